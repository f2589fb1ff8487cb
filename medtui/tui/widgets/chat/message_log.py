"""The scrolling conversation: questions and answers, following the newest while it streams; an
empty one shows the Welcome, gone with the first question."""

from textual.containers import VerticalScroll

from medtui.core.rag.attribution import Sentence
from medtui.tui.styles import stylesheet
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.chat.question_view import QuestionView
from medtui.tui.widgets.chat.welcome import Welcome


class MessageLog(VerticalScroll):
    DEFAULT_CSS = stylesheet(__file__)
    can_focus = False

    def clear(self, welcome: bool = False) -> Welcome | None:
        """Empty the conversation; `welcome`: show the Welcome in it (a new chat)."""
        self.remove_children()
        if welcome:
            view = Welcome()
            self.mount(view)
            return view
        return None

    def add_question(self, question: str) -> QuestionView:
        self.query_children(Welcome).remove()
        view = QuestionView(question)
        self.mount(view)
        self.anchor()
        return view

    def add_answer(
        self,
        model: str,
        text: str = "",
        state: str = "",
        sentences: list[Sentence] | None = None,
        sources: list[dict] | None = None,
    ) -> AnswerView:
        view = AnswerView(model, text, state, sentences, sources)
        self.mount(view)
        self.anchor()
        return view

"""The scrolling conversation: questions and answers, following the newest while it streams."""

from textual.containers import VerticalScroll

from medtui.tui.styles import stylesheet
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.chat.question_view import QuestionView


class MessageLog(VerticalScroll):
    DEFAULT_CSS = stylesheet(__file__)
    can_focus = False

    def clear(self) -> None:
        self.remove_children()

    def add_question(self, question: str) -> QuestionView:
        view = QuestionView(question)
        self.mount(view)
        self.anchor()
        return view

    def add_answer(self, model: str, text: str = "", state: str = "") -> AnswerView:
        view = AnswerView(model, text, state)
        self.mount(view)
        self.anchor()
        return view

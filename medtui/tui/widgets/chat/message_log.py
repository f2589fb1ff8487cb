"""The scrolling conversation: questions and answers, following the newest while it streams; an
empty one shows the Welcome, gone with the first question. When its width changes (ctrl+b) its
messages rewrap, and it keeps the reader's place (Place) rather than a line number that now shows
other text."""

from dataclasses import dataclass

from textual.containers import VerticalScroll
from textual.widget import Widget

from medtui.tui.styles import stylesheet
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.chat.question_view import QuestionView
from medtui.tui.widgets.chat.welcome import Welcome


@dataclass(frozen=True)
class Place:
    """Where the reader is: at the end (`message` None), or `share` of the way down `message`, the
    message at the top of the view."""

    message: Widget | None = None
    share: float = 0.0


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

    def add_answer(self, view: AnswerView) -> AnswerView:
        self.mount(view)
        self.anchor()
        return view

    def place(self) -> Place:
        """The reader's place now, to give back with `keep` after the width changes."""
        if self.scroll_y >= self.max_scroll_y:
            return Place()
        for message in self.children:
            region = message.virtual_region_with_margin
            if region.y <= self.scroll_y < region.bottom:
                return Place(message, (self.scroll_y - region.y) / region.height)
        return Place()

    def keep(self, place: Place) -> None:
        """Scroll back to `place` once the messages have rewrapped: the same message at the top, as
        far down it, or the end for a reader who was at the end."""
        if place.message is None or place.message.parent is not self:
            self.scroll_end(animate=False, immediate=True)
            return
        region = place.message.virtual_region_with_margin
        self.scroll_to(y=region.y + round(place.share * region.height), animate=False, immediate=True)

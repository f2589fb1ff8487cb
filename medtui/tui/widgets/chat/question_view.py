"""A question as the user typed it."""

from textual.widgets import Static

from medtui.tui.styles import stylesheet


class QuestionView(Static):
    DEFAULT_CSS = stylesheet(__file__)

    def __init__(self, question: str) -> None:
        super().__init__(question, markup=False)
        self.question = question

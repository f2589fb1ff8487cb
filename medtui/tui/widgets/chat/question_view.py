"""A question as the user typed it."""

from textual.widgets import Static


class QuestionView(Static):
    DEFAULT_CSS = """
    QuestionView { margin: 1 0 0 0; padding: 0 1; border-left: thick $primary; color: $text; }
    """

    def __init__(self, question: str) -> None:
        super().__init__(question, markup=False)
        self.question = question

"""Where questions are typed; posts QuestionSubmitted upward. The app clears it once it takes the
question, so a question it cannot take yet (an answer still streaming) stays where it was typed."""

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

from medtui.tui.styles import stylesheet


class PromptInput(Input):
    DEFAULT_CSS = stylesheet(__file__)
    HELP = (
        "Type a medical question and press Enter. Esc stops an answer in progress; a question sent while "
        "one streams is queued and asked when it ends. Up selects an answer (or an example question)."
    )
    BINDINGS = [Binding("up", "browse", "Answers", show=False)]

    @dataclass
    class QuestionSubmitted(Message):
        question: str

    class BrowseRequested(Message):
        """Up in the question box: select the latest answer, or an example question."""

    def __init__(self) -> None:
        # not Input's select-on-focus: coming back to a half-typed question, the next key would replace it
        super().__init__(placeholder="Ask a medical question…  (Enter to send)", id="prompt", select_on_focus=False)

    def type_in(self, text: str) -> None:
        """Focus, and add `text` at the end of what is typed (a key pressed while an answer was selected)."""
        self.focus()
        self.cursor_position = len(self.value)
        self.insert_text_at_cursor(text)

    async def action_submit(self) -> None:
        self.post_message(self.QuestionSubmitted(self.value))

    def action_browse(self) -> None:
        self.post_message(self.BrowseRequested())

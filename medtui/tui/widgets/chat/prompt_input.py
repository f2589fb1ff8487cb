"""Where questions are typed; posts QuestionSubmitted upward and clears itself."""

from dataclasses import dataclass

from textual.message import Message
from textual.widgets import Input

from medtui.tui.styles import stylesheet


class PromptInput(Input):
    DEFAULT_CSS = stylesheet(__file__)
    HELP = "Type a medical question and press Enter. Esc stops an answer in progress."

    @dataclass
    class QuestionSubmitted(Message):
        question: str

    def __init__(self) -> None:
        super().__init__(placeholder="Ask a medical question…  (Enter to send)", id="prompt")

    async def action_submit(self) -> None:
        question = self.value
        self.value = ""
        self.post_message(self.QuestionSubmitted(question))

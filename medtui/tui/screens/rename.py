"""Ask for a new conversation title."""

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class RenameScreen(ModalScreen[str | None]):
    CSS_PATH = "rename.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.old_title = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Rename conversation")
            yield Input(self.old_title, id="title")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        title = event.value.strip()
        if not title:
            self.notify("a title cannot be empty", severity="error")
            return
        self.dismiss(title)

    def action_cancel(self) -> None:
        self.dismiss(None)

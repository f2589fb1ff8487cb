"""RAG on/off and how many sources to retrieve."""

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Switch


@dataclass(frozen=True)
class RetrievalChoice:
    rag: bool
    top_k: int


class RetrievalSettings(ModalScreen[RetrievalChoice | None]):
    DEFAULT_CSS = """
    RetrievalSettings { align: center middle; }
    RetrievalSettings > Vertical { width: 50; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    RetrievalSettings Horizontal { height: auto; margin-bottom: 1; }
    RetrievalSettings Label { width: 20; padding-top: 1; }
    RetrievalSettings Input { width: 10; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, rag: bool, top_k: int) -> None:
        super().__init__()
        self.rag, self.top_k = rag, top_k

    def compose(self) -> ComposeResult:
        with Vertical():
            with Horizontal():
                yield Label("Retrieval (RAG)")
                yield Switch(value=self.rag, id="rag")
            with Horizontal():
                yield Label("Sources (top-k)")
                yield Input(str(self.top_k), type="integer", id="top-k")
            yield Button("Apply", variant="primary", id="apply")
        yield Footer()

    def _apply(self) -> None:
        raw = self.query_one("#top-k", Input).value.strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 50:
            self.notify("top-k must be a whole number from 1 to 50", severity="error")
            return
        self.dismiss(RetrievalChoice(self.query_one("#rag", Switch).value, int(raw)))

    def on_button_pressed(self) -> None:
        self._apply()

    def on_input_submitted(self) -> None:
        self._apply()

    def action_cancel(self) -> None:
        self.dismiss(None)

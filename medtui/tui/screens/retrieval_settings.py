"""RAG on/off, which index, which retrievers (dense, BM25 or both) and how many sources."""

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Switch


@dataclass(frozen=True)
class RetrievalChoice:
    rag: bool
    top_k: int
    index: str
    dense: bool
    bm25: bool


class RetrievalSettings(ModalScreen[RetrievalChoice | None]):
    CSS_PATH = "retrieval_settings.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    HELP = "Hybrid search fuses dense and BM25 rankings; turn one off to compare. Indexes come from `medtui index add`."

    def __init__(self, current: RetrievalChoice, indexes: list[str]) -> None:
        super().__init__()
        self.current = current
        self.indexes = sorted(set(indexes) | {current.index})

    def compose(self) -> ComposeResult:
        c = self.current
        with Vertical():
            with Horizontal():
                yield Label("Retrieval (RAG)")
                yield Switch(value=c.rag, id="rag")
            with Horizontal():
                yield Label("Index")
                yield Select([(name, name) for name in self.indexes], value=c.index, allow_blank=False, id="index")
            with Horizontal():
                yield Label("Dense (embeddings)")
                yield Switch(value=c.dense, id="dense")
            with Horizontal():
                yield Label("BM25 (words)")
                yield Switch(value=c.bm25, id="bm25")
            with Horizontal():
                yield Label("Sources (top-k)")
                yield Input(str(c.top_k), type="integer", id="top-k")
            yield Button("Apply", variant="primary", id="apply")
        yield Footer()

    def _apply(self) -> None:
        raw = self.query_one("#top-k", Input).value.strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 50:
            self.notify("top-k must be a whole number from 1 to 50", severity="error")
            return
        dense, bm25 = self.query_one("#dense", Switch).value, self.query_one("#bm25", Switch).value
        if not (dense or bm25):
            self.notify("turn on dense, BM25 or both (or turn retrieval off)", severity="error")
            return
        index = str(self.query_one("#index", Select).value)
        self.dismiss(RetrievalChoice(self.query_one("#rag", Switch).value, int(raw), index, dense, bm25))

    def on_button_pressed(self) -> None:
        self._apply()

    def on_input_submitted(self) -> None:
        self._apply()

    def action_cancel(self) -> None:
        self.dismiss(None)

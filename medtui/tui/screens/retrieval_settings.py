"""RAG on/off, which index, which retrievers (dense, BM25 or both), how many sources, and whether
to answer only when a source passes the relevance gate."""

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static, Switch


@dataclass(frozen=True)
class RetrievalChoice:
    rag: bool
    top_k: int
    index: str
    dense: bool
    bm25: bool
    require_sources: bool = False  # no source passes the gate: say so instead of answering


class RetrievalSettings(ModalScreen[RetrievalChoice | None]):
    CSS_PATH = "retrieval_settings.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    HELP = (
        "Hybrid search fuses dense and BM25 rankings; turn one off to compare. Indexes come from `medtui index add`. "
        "'Answer only from sources' refuses a question no source passes the relevance gate for."
    )

    def __init__(self, current: RetrievalChoice, indexes: list[str], gate_rule: str = "") -> None:
        """`gate_rule`: the relevance gate's rule for the loaded index's search mode ("" when none is loaded)."""
        super().__init__()
        self.current = current
        self.indexes = sorted(set(indexes) | {current.index})
        self.gate_rule = gate_rule

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
            with Horizontal(id="require-row", classes="with-rule" if self.gate_rule else ""):
                yield Label("Answer only from sources")
                yield Switch(value=c.require_sources, id="require-sources")
            if self.gate_rule:  # data from the index's manifest: never markup
                yield Static(f"a source passes when {self.gate_rule}", id="gate-rule", markup=False)
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
        require = self.query_one("#require-sources", Switch).value
        self.dismiss(RetrievalChoice(self.query_one("#rag", Switch).value, int(raw), index, dense, bm25, require))

    def on_button_pressed(self) -> None:
        self._apply()

    def on_input_submitted(self) -> None:
        self._apply()

    def action_cancel(self) -> None:
        self.dismiss(None)

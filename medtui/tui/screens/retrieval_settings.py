"""RAG on/off, which index, which retrievers (dense, BM25 or both), how many sources, and whether
to answer only when a source passes the relevance gate. Apply also saves what changed to
config.toml, so the choices outlast a restart."""

from dataclasses import dataclass, fields

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from medtui.core import paths
from medtui.core.config import save_settings
from medtui.core.errors import MedtuiError
from medtui.tui.widgets.footer import KeysFooter
from medtui.tui.widgets.ticks import show_switch_state, switch_with_state


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
        "'Answer only from sources' refuses a question no source passes the relevance gate for. "
        "Apply saves what you changed to config.toml; a MEDTUI_* variable still wins over it."
    )

    def __init__(self, current: RetrievalChoice, indexes: list[str], gate_rule: str = "") -> None:
        """`gate_rule`: the relevance gate's rule for the loaded index's search mode ("" when none is loaded)."""
        super().__init__()
        self.current = current
        self.indexes = sorted(set(indexes) | {current.index})
        self.gate_rule = gate_rule

    def _switch(self, label: str, value: bool, switch_id: str) -> ComposeResult:
        yield Label(label)
        yield from switch_with_state(switch_id, value)

    def compose(self) -> ComposeResult:
        c = self.current
        with Vertical():
            with Horizontal():
                yield from self._switch("Retrieval (RAG)", c.rag, "rag")
            with Horizontal():
                yield Label("Index")
                yield Select([(name, name) for name in self.indexes], value=c.index, allow_blank=False, id="index")
            with Horizontal():
                yield from self._switch("Dense (embeddings)", c.dense, "dense")
            with Horizontal():
                yield from self._switch("BM25 (words)", c.bm25, "bm25")
            with Horizontal():
                yield Label("Sources (top-k)")
                yield Input(str(c.top_k), type="integer", id="top-k")
            with Horizontal(id="require-row", classes="with-rule" if self.gate_rule else ""):
                yield from self._switch("Answer only from sources", c.require_sources, "require-sources")
            if self.gate_rule:  # data from the index's manifest: never markup
                yield Static(f"a source passes when {self.gate_rule}", id="gate-rule", markup=False)
            yield Static(f"Apply saves your changes to {paths.config_file()}", id="saved-to", markup=False)
            yield Button("Apply", variant="primary", id="apply")
        yield KeysFooter()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        show_switch_state(self, event)

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
        choice = RetrievalChoice(self.query_one("#rag", Switch).value, int(raw), index, dense, bm25, require)
        self._save(choice)
        self.dismiss(choice)

    def _save(self, choice: RetrievalChoice) -> None:
        """Keep what the user changed here (not values that came from a flag or MEDTUI_* variable
        and were left alone) for the next start; a failure to save still applies the choice now."""
        changed = {
            f.name: getattr(choice, f.name)
            for f in fields(RetrievalChoice)
            if getattr(choice, f.name) != getattr(self.current, f.name)
        }
        if not changed:
            return
        try:
            self.notify(save_settings(changed).describe())
        except MedtuiError as e:
            self.notify(f"applied for this session only: {e}", severity="error", timeout=10)

    def on_button_pressed(self) -> None:
        self._apply()

    def on_input_submitted(self) -> None:
        self._apply()

    def action_cancel(self) -> None:
        self.dismiss(None)

"""A cited passage in full."""

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static


class PassageScreen(ModalScreen[None]):
    CSS_PATH = "passage.tcss"
    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, record: dict) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        r = self.record
        scores = ", ".join(f"{k} {v:.3f}" for k, v in r.get("scores", {}).items())
        with VerticalScroll():
            yield Static(f"[{r['n']}] {r['title']}", id="passage-title", markup=False)
            place = (
                f" · chunk {r['position'] + 1} of {r['doc_id']}" if r.get("doc_id") and r["doc_id"] != r["id"] else ""
            )
            meta = " · ".join(
                part for part in (r.get("source", ""), r.get("reference", ""), r["id"] + place, scores) if part
            )
            yield Static(meta, id="passage-meta", markup=False)
            yield Static(r["text"], id="passage-text", markup=False)
        yield Footer()

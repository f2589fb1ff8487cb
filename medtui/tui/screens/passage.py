"""A cited passage in full, the spans that support the answer highlighted."""

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

HIGHLIGHT = "bold reverse"  # readable on any theme, and visible without colour


def highlighted(text: str, spans: list[tuple[int, int]]) -> Text:
    """The passage with each supporting span (character offsets from attribution) highlighted."""
    out = Text(text)
    for start, end in spans:
        out.stylize(HIGHLIGHT, start, end)
    return out


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
            yield Static(highlighted(r["text"], r.get("highlight", [])), id="passage-text", markup=False)
        yield Footer()

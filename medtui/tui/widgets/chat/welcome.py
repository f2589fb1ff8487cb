"""The first screen of an empty chat: what medtui is, the active model and index with their sizes,
and example questions (Up from the question box, then Enter asks one). Gone once a question is asked."""

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from medtui.core.formatting import format_size
from medtui.core.registry import ModelSpec
from medtui.tui.styles import stylesheet

ABOUT = (
    "medtui answers medical questions with a local model, offline, grounded in the passages of a local "
    "index: each answer cites its sources, listed in the Sources panel (at the right; ctrl+b shows it "
    "in a narrow terminal)."
)
EXAMPLES = (
    "What is the first-line drug treatment for type 2 diabetes?",
    "What are the symptoms of nephritis?",
    "How is ptosis treated?",
)


def model_size(spec: ModelSpec) -> str:
    """The model's size on disk ("" for a Hub id not downloaded here)."""
    total = 0
    for source in (spec.source, spec.adapter):
        path = Path(source) if source else None
        if path is not None and path.is_file():
            total += path.stat().st_size
        elif path is not None and path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return format_size(total) if total else ""


class ExampleList(OptionList):
    """Focused, its first example is highlighted: Enter asks it at once."""

    def on_focus(self) -> None:
        if self.highlighted is None and self.option_count:
            self.highlighted = 0


class Welcome(Vertical):
    DEFAULT_CSS = stylesheet(__file__)
    HELP = "Up from the question box selects an example question; Enter asks it."

    @dataclass
    class ExampleChosen(Message):
        question: str

    def compose(self) -> ComposeResult:
        yield Static(ABOUT, classes="about", markup=False)
        yield Static(self._model, id="welcome-model", markup=False)  # model and index names are data: never markup
        yield Static(self._index, id="welcome-index", markup=False)
        yield Static("Try one (Up, then Enter):", classes="try", markup=False)
        yield ExampleList(*(Option(q) for q in EXAMPLES), id="examples")

    def __init__(self) -> None:
        super().__init__()
        self._model = self._index = ""

    def describe(self, model: str, index: str) -> None:
        """The active model and index, with their sizes (kept for compose when not composed yet)."""
        self._model, self._index = f"model: {model}", f"index: {index}"
        for line in self.query("#welcome-model, #welcome-index").results(Static):  # none before compose
            line.update(self._model if line.id == "welcome-model" else self._index)

    @property
    def text(self) -> str:
        return "\n".join(str(s.render()) for s in self.query(Static))

    def choose(self) -> None:
        """Focus the examples (Up from the question box)."""
        self.query_one(ExampleList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.ExampleChosen(EXAMPLES[event.option_index]))

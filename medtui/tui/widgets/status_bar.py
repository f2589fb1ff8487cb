"""Model, retrieval state and work in progress (the not-medical-advice notice has its own line: Disclaimer)."""

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import LoadingIndicator, ProgressBar, Static

from medtui.tui.styles import stylesheet


class StatusBar(Horizontal):
    DEFAULT_CSS = stylesheet(__file__)

    def compose(self) -> ComposeResult:
        yield LoadingIndicator(id="busy")
        yield Static("", id="status", markup=False)  # index and model names are data: never markup
        yield ProgressBar(id="progress", show_eta=False)  # the status text has the rate and ETA (RateMeter)

    def set_status(self, text: str, busy: bool = False) -> None:
        self.query_one("#status", Static).update(text)
        self.set_class(busy, "busy")

    def set_progress(self, done: int | None, total: int | None) -> None:
        self.set_class(done is not None, "progress")
        if done is not None:
            self.query_one(ProgressBar).update(total=total, progress=done)

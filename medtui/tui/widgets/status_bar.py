"""Model, retrieval state and the standing not-medical-advice notice; shows loading work."""

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import LoadingIndicator, ProgressBar, Static

NOTICE = "Not medical advice: answers can be wrong. Check the sources and ask a clinician."


class StatusBar(Horizontal):
    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $panel; }
    StatusBar #status { width: auto; margin-right: 2; }
    StatusBar #busy { width: 6; height: 1; display: none; }
    StatusBar.busy #busy { display: block; }
    StatusBar ProgressBar { width: 40; display: none; }
    StatusBar.progress ProgressBar { display: block; }
    StatusBar #notice { width: 1fr; color: $warning; text-align: right; }
    """

    def compose(self) -> ComposeResult:
        yield LoadingIndicator(id="busy")
        yield Static("", id="status")
        yield ProgressBar(id="progress", show_eta=True)
        yield Static(NOTICE, id="notice")

    def set_status(self, text: str, busy: bool = False) -> None:
        self.query_one("#status", Static).update(text)
        self.set_class(busy, "busy")

    def set_progress(self, done: int | None, total: int | None) -> None:
        self.set_class(done is not None, "progress")
        if done is not None:
            self.query_one(ProgressBar).update(total=total, progress=done)

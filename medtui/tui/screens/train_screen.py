"""Train adapters from the TUI: a new-run wizard and a monitor of every run.

The wizard previews formatted examples with their token counts and estimates time and memory
through `trainers.api` (the same service as `medtui train`), then starts the run as a detached
process: closing this screen, or the whole TUI, does not stop it. The monitor re-reads each
run's folder once a second, so it also shows runs started from the CLI or another terminal.
"""

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import ProgressBar, Static, TabbedContent, TabPane

from medtui.core.errors import MedtuiError
from medtui.core.formatting import format_duration
from medtui.core.registry import Registry
from medtui.tui.forms import FormMemory
from medtui.tui.widgets.footer import KeysFooter
from medtui.tui.widgets.train.loss_chart import LossChart
from medtui.tui.widgets.train.runs_table import RunsTable
from medtui.tui.widgets.train.train_form import TrainForm
from trainers import api


def _state(view: api.RunView) -> str:
    """The run's status, saying so when a `running` run's process is gone (a crash or a reboot)."""
    return "stopped (r resumes)" if view.orphaned else str(view.run.status)


class TrainScreen(Screen):
    CSS_PATH = "train_screen.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close (runs go on)"),
        Binding("r", "resume", "Resume run"),
        Binding("x", "stop", "Stop run"),
    ]
    HELP = (
        "New run: fill in, Preview, Estimate, Start. "
        "Runs: highlight one to watch; r resumes, x stops (with a checkpoint)."
    )

    AUTO_FOCUS = "TrainForm #method"  # the form's first field, not the tab bar above it

    def __init__(self, model: str, memory: FormMemory | None = None) -> None:
        """`memory`: the form's values when it was last closed, kept by the app for the session."""
        super().__init__()
        self.model = model
        self.memory = memory or FormMemory()
        self.selected: Path | None = None
        self.reported: set[str] = set()  # unreadable runs already notified

    def compose(self) -> ComposeResult:
        models = [spec.name for spec in Registry().all()]
        with TabbedContent(initial="new"):
            with TabPane("New run", id="new"):
                yield TrainForm(models, self.model)
                with VerticalScroll(id="output"):
                    yield Static(
                        "Preview shows the first examples as the model sees them; Estimate counts tokens, "
                        "steps, time and memory.",
                        id="output-text",
                        markup=False,
                    )
            with TabPane("Runs", id="runs"):
                yield RunsTable()
                with Vertical(id="monitor"):
                    yield ProgressBar(id="run-progress", show_eta=False)
                    yield Static("no run selected", id="run-status", markup=False)
                    yield LossChart()
        yield KeysFooter()

    def on_mount(self) -> None:
        self.memory.restore(self.query_one(TrainForm))
        self.refresh_runs()
        self.set_interval(1.0, self.refresh_runs)

    # -- the wizard ----------------------------------------------------------------
    @on(TrainForm.Requested)
    def _requested(self, event: TrainForm.Requested) -> None:
        self.query_one("#output-text", Static).update(f"{event.action}: working…")
        self.do_request(event.action, event.config)

    @work(thread=True, exclusive=True, group="wizard")
    def do_request(self, action: str, config: api.TrainConfig) -> None:
        out = self.query_one("#output-text", Static)
        try:
            if action == "preview":
                text = self._preview_text(api.preview(config, 3))
            elif action == "estimate":
                text = self._estimate_text(api.estimate(config))
            else:
                text = ""
                for event in api.start(config, detach=True):
                    if isinstance(event, api.Started):
                        self.app.call_from_thread(self._started, event.run.dir)
                        text = (
                            f"started {event.run.name} in the background: "
                            "see the Runs tab (it goes on if you close medtui)"
                        )
        except MedtuiError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
            text = f"{action}: {e}"
        self.app.call_from_thread(out.update, text)

    @staticmethod
    def _preview_text(examples: list[api.Example]) -> Text:
        out = Text()
        for n, ex in enumerate(examples, 1):
            out.append(
                f"── example {n}: {ex.prompt_tokens} prompt tokens (no loss), {ex.completion_tokens} learned ──\n",
                style="bold",
            )
            out.append(ex.prompt, style="dim")
            out.append(ex.completion + "\n\n", style="green")
        return out or Text("no usable rows in the data")

    @staticmethod
    def _estimate_text(est: api.Estimate) -> str:
        """The total, then `how`, which breaks it into its phases and says where each number comes from."""
        return (
            f"{est.report.describe()} · {est.tokens:,} tokens · {est.steps:,} steps\n"
            f"≈ {format_duration(est.seconds)} · ≈ {est.memory_bytes / 2**30:.1f} GiB · "
            f"{est.params / 1e6:.0f}M parameters\n\n{est.how}"
        )

    def _started(self, folder: Path) -> None:
        self.selected = folder
        self.query_one(TabbedContent).active = "runs"
        self.query_one(RunsTable).focus()  # else the focused Start button pulls its tab back
        self.refresh_runs()

    # -- the monitor -----------------------------------------------------------------
    def refresh_runs(self) -> None:
        listing = api.list_runs()
        for problem in set(listing.unreadable) - self.reported:
            self.notify(problem, severity="warning", timeout=10)
        self.reported.update(listing.unreadable)
        if self.selected is None and listing.runs:
            self.selected = listing.runs[-1].run.dir
        self.query_one(RunsTable).show(listing.runs, self.selected)
        self._show_run(next((v for v in listing.runs if v.run.dir == self.selected), None))

    def _show_run(self, view: api.RunView | None) -> None:
        status = self.query_one("#run-status", Static)
        if view is None:
            status.update("no run selected")
            self.query_one(LossChart).show(None)
            return
        run, progress, phase = view.run, view.progress, view.preparing
        bar = self.query_one(ProgressBar)
        if phase is not None:  # before the first step: the phase's own progress (unknown total: pulsing)
            bar.update(total=phase.total, progress=phase.done)
        elif progress.max_steps:
            bar.update(total=progress.max_steps, progress=progress.step)
        rate = f"{progress.tokens_per_s:,.0f} tokens/s" if progress.tokens_per_s else ""
        loss = f"loss {progress.train[-1][1]:.4f}" if progress.train else ""
        eval_loss = f"eval {progress.eval[-1][1]:.4f}" if progress.eval else ""
        eta = f"ETA {format_duration(progress.eta_s)}" if progress.eta_s and run.status is api.RunStatus.RUNNING else ""
        stage = f"stage {run.info.stage}" if run.info.stage else ""
        preparing = f"preparing: {phase.describe()}" if phase else ""
        parts = [run.name, _state(view), stage, preparing, loss, eval_loss, rate, eta]
        if run.status is api.RunStatus.COMPLETE:
            parts.append(f"adapter {run.adapter} (model {run.name!r})")
        if run.info.error:
            parts.append(f"error: {run.info.error}")
        status.update(" · ".join(p for p in parts if p))
        self.query_one(LossChart).show(progress)

    @on(RunsTable.Chosen)
    def _chosen(self, event: RunsTable.Chosen) -> None:
        if event.run_dir != self.selected:
            self.selected = event.run_dir
            self.refresh_runs()

    def action_resume(self) -> None:
        if self.selected is None:
            self.notify("no run selected", severity="warning")
            return
        self.do_resume(self.selected)

    @work(thread=True, exclusive=True, group="resume")
    def do_resume(self, folder: Path) -> None:
        """In a thread: a run stopped a moment ago is resumed once its worker has exited."""
        try:
            for event in api.resume(folder, detach=True):
                if isinstance(event, api.Started):
                    message = f"resuming {event.run.name} from its last checkpoint"
                    self.app.call_from_thread(self.notify, message)
        except MedtuiError as e:
            self.app.call_from_thread(self.notify, str(e), severity="warning")

    def action_stop(self) -> None:
        if self.selected is None:
            self.notify("no run selected", severity="warning")
            return
        try:
            run = api.stop(self.selected)
        except MedtuiError as e:
            self.notify(str(e), severity="warning")
            return
        self.notify(f"stopping {run.name} after this step (r resumes it)")

    def action_close(self) -> None:
        self.memory.save(self.query_one(TrainForm))
        self.dismiss()

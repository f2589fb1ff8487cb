"""Train adapters from the TUI: a new-run wizard and a monitor of every run.

The wizard previews formatted examples with their token counts and estimates time and memory
through `trainers.api` (the same service as `medtui train`), then starts the run as a detached
process: closing this screen, or the whole TUI, does not stop it. The monitor re-reads each
run's folder once a second, so it also shows runs started from the CLI or another terminal.
"""

import os
import signal
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static, TabbedContent, TabPane

from medtui.core.errors import MedtuiError
from medtui.core.registry import Registry
from medtui.tui.widgets.train.loss_chart import LossChart
from medtui.tui.widgets.train.runs_table import RunsTable
from medtui.tui.widgets.train.train_form import TrainForm
from trainers import api
from trainers.runs import COMPLETE, RUNNING, Run


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m" if hours else f"{m}m{s:02d}s"


def _state(run: Run) -> str:
    """The run's status, saying so when a `running` run's process is gone (a crash or a reboot)."""
    if run.status == RUNNING and not api.is_alive(run):
        return "stopped (r resumes)"
    return run.status


class TrainScreen(Screen):
    DEFAULT_CSS = """
    TrainScreen #output { height: 1fr; border-top: solid $panel; padding: 0 1; }
    TrainScreen RunsTable { height: auto; max-height: 10; }
    TrainScreen #monitor { height: 1fr; }
    TrainScreen #run-status { height: auto; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close (runs go on)"),
        Binding("r", "resume", "Resume run"),
        Binding("x", "stop", "Stop run"),
    ]
    HELP = "New run: fill in, Preview, Estimate, Start. Runs: highlight one to watch; r resumes, x stops (with a checkpoint)."

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model
        self.selected: Path | None = None

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
        yield Footer()

    def on_mount(self) -> None:
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
                folder = api.start(config)
                self.app.call_from_thread(self._started, folder)
                text = f"started {folder.name} in the background: see the Runs tab (it goes on if you close medtui)"
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
        return (
            f"{est.report.describe()} · {est.tokens:,} tokens · {est.steps:,} steps\n"
            f"≈ {_duration(est.seconds)} · ≈ {est.memory_bytes / 2**30:.1f} GiB · {est.params / 1e6:.0f}M parameters\n\n{est.how}"
        )

    def _started(self, folder: Path) -> None:
        self.selected = folder
        self.query_one(TabbedContent).active = "runs"
        self.query_one(RunsTable).focus()  # else the focused Start button pulls its tab back
        self.refresh_runs()

    # -- the monitor -----------------------------------------------------------------
    def refresh_runs(self) -> None:
        runs = api.list_runs()
        if self.selected is None and runs:
            self.selected = runs[-1].dir
        progress = {run.dir: api.read_progress(run.dir) for run in runs}
        steps = {
            d: (f"{p.step}/{p.max_steps}" if p.max_steps else "", f"{p.train[-1][1]:.3f}" if p.train else "")
            for d, p in progress.items()
        }
        self.query_one(RunsTable).show(runs, steps, self.selected)
        current = next((r for r in runs if r.dir == self.selected), None)
        self._show_run(current, progress.get(self.selected) if current else None)

    def _show_run(self, run: Run | None, progress: api.Progress | None) -> None:
        status = self.query_one("#run-status", Static)
        if run is None:
            status.update("no run selected")
            self.query_one(LossChart).show(None)
            return
        bar = self.query_one(ProgressBar)
        if progress and progress.max_steps:
            bar.update(total=progress.max_steps, progress=progress.step)
        rate = f"{progress.tokens_per_s:,.0f} tokens/s" if progress and progress.tokens_per_s else ""
        loss = f"loss {progress.train[-1][1]:.4f}" if progress and progress.train else ""
        eval_loss = f"eval {progress.eval[-1][1]:.4f}" if progress and progress.eval else ""
        eta = f"ETA {_duration(progress.eta_s)}" if progress and progress.eta_s and run.status == RUNNING else ""
        parts = [run.name, _state(run), f"stage {run.info.get('stage', '')}", loss, eval_loss, rate, eta]
        if run.status == COMPLETE:
            parts.append(f"adapter {run.adapter} (model {run.name!r})")
        if run.info.get("error"):
            parts.append(f"error: {run.info['error']}")
        status.update(" · ".join(p for p in parts if p))
        self.query_one(LossChart).show(progress)

    @on(RunsTable.Chosen)
    def _chosen(self, event: RunsTable.Chosen) -> None:
        if event.run_dir != self.selected:
            self.selected = event.run_dir
            self.refresh_runs()

    def _selected_run(self) -> Run | None:
        if self.selected is None:
            self.notify("no run selected", severity="warning")
            return None
        return api.load_run(self.selected)

    def action_resume(self) -> None:
        run = self._selected_run()
        if run is None:
            return
        if run.status == COMPLETE or api.is_alive(run):
            state = {COMPLETE: "complete", RUNNING: "still running"}.get(
                run.status, "still saving its checkpoint: try again in a moment"
            )
            self.notify(f"{run.name} is {state}", severity="warning")
            return
        api.resume(str(run.dir))
        self.notify(f"resuming {run.name} from its last checkpoint")

    def action_stop(self) -> None:
        run = self._selected_run()
        if run is None:
            return
        if not api.is_alive(run):
            self.notify(f"{run.name} is not running", severity="warning")
            return
        # The worker leads its own process group (every rank under accelerate): each one checkpoints and stops.
        os.killpg(int(run.info["pid"]), signal.SIGINT)
        self.notify(f"stopping {run.name} after this step (r resumes it)")

    def action_close(self) -> None:
        self.dismiss()

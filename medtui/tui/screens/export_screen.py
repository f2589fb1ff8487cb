"""Export a model or LoRA to a verified GGUF from the TUI: pick the source, the quant type and
the route; watch the stages; read the verification numbers.

The export runs in a thread worker of this screen through `export.pipeline.export_model` (the
same service as `medtui export`). Esc stops it (the converter subprocess is killed and nothing
is registered) or closes the screen. A registered export is announced to the app with
`ExportScreen.Exported`, so the model switcher can offer it.
"""

import threading
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static, Switch

from export.converter import Cancelled
from export.pipeline import ExportRequest, ExportResult, export_model
from export.quantize import QUANTS
from export.verify import THRESHOLDS
from medtui.core.errors import MedtuiError
from medtui.core.formatting import format_duration
from medtui.core.records import RunStatus
from medtui.core.registry import Registry
from medtui.tui.widgets.footer import KeysFooter
from medtui.tui.widgets.ticks import show_switch_state, switch_with_state
from trainers.runs import list_runs


def export_sources() -> list[tuple[str, str]]:
    """(label, target) for registered Hugging Face models (with or without LoRA) and completed training runs."""
    rows = [(f"model {s.name}" + (" + LoRA" if s.adapter else ""), s.name) for s in Registry().all() if s.kind == "hf"]
    return rows + [(f"run {run.name}", str(run.dir)) for run in list_runs() if run.status is RunStatus.COMPLETE]


class ExportScreen(Screen):
    CSS_PATH = "export_screen.tcss"
    BINDINGS = [Binding("escape", "stop_or_close", "Stop / close")]
    HELP = (
        "Pick a source and a quant type, then Export. Esc stops an export (nothing is registered) or closes the screen."
    )

    class Exported(Message):
        """A verified export was registered under `name`."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()
        self.running = False
        self.result: ExportResult | None = None

    def compose(self) -> ComposeResult:
        sources = export_sources()
        with Vertical(id="setup"):
            with Horizontal(id="choices", classes="fields"):  # a grid of fields below 120 columns (.tcss)
                with Horizontal(classes="field"):
                    yield Label("Source")
                    yield Select(sources, prompt="a model or run", id="source")
                with Horizontal(classes="field"):
                    yield Label("Quant")
                    yield Select([(q, q) for q in QUANTS], value="q8_0", allow_blank=False, id="quant")
                with Horizontal(classes="field"):
                    yield Label("LoRA only")
                    yield from switch_with_state("adapter-only", False)
                with Horizontal(classes="field actions"):
                    yield Button("Export", variant="primary", id="export")
            with Horizontal():
                yield Label("Base GGUF (LoRA only)")
                yield Input(placeholder="optional: the base .gguf the LoRA is applied to", id="base-gguf")
            yield ProgressBar(id="progress", total=1.0, show_eta=False)
            yield Static(
                "" if sources else "nothing to export: register an HF model or finish a training run",
                id="stage",
                markup=False,
            )
        yield DataTable(id="verification", cursor_type="none")
        yield KeysFooter()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        show_switch_state(self, event)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("model", "quant", "top-1 agreement", "ppl HF", "ppl GGUF", "Δ ppl", "template", "verdict")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "export" or self.running:
            return
        target = self.query_one("#source", Select).value
        if target is Select.BLANK:
            self.notify("pick a model or training run to export", severity="error")
            return
        base_gguf = self.query_one("#base-gguf", Input).value.strip() or None
        request = ExportRequest(
            str(target),
            str(self.query_one("#quant", Select).value),
            adapter_only=self.query_one("#adapter-only", Switch).value,
            base_gguf=base_gguf,
        )
        self.running = True
        self.cancel.clear()
        self.run_export(request)

    @work(thread=True, exclusive=True, group="export")
    def run_export(self, request: ExportRequest) -> None:
        stage_text = self.query_one("#stage", Static)
        bar = self.query_one(ProgressBar)

        def progress(stage: str, fraction: float, detail: str) -> None:
            self.app.call_from_thread(bar.update, progress=fraction)
            self.app.call_from_thread(stage_text.update, f"{stage}: {detail} (Esc stops)")

        try:
            result = export_model(request, progress, self.cancel)
            self.app.call_from_thread(self._show, result)
        except MedtuiError as e:
            self.app.call_from_thread(stage_text.update, f"failed: {e}")
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
        except Cancelled:
            self.app.call_from_thread(stage_text.update, "stopped: nothing was registered")
        finally:
            self.running = False

    def _show(self, result: ExportResult) -> None:
        self.result = result
        v = result.verification
        self.query_one(DataTable).add_row(
            result.name,
            v.kind,
            f"{v.top1:.1%} (≥ {THRESHOLDS[v.kind].top1:.0%})",
            f"{v.ppl_hf:.3f}",
            f"{v.ppl_gguf:.3f}",
            f"{v.ppl_rel:.2%}",
            "same" if v.template_ok else "different",
            "passed" if v.passed else "failed",
        )
        where = Path(result.adapter or result.gguf)
        self.query_one("#stage", Static).update(
            f"registered {result.name} ({where}) in {format_duration(result.seconds)}: pick it with ctrl+o"
        )
        self.post_message(self.Exported(result.name))

    def action_stop_or_close(self) -> None:
        if self.running:
            self.cancel.set()
        else:
            self.dismiss()

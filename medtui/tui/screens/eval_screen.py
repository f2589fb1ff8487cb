"""Run benchmarks from the TUI: pick several models (GGUFs, HF folders, adapters), benchmarks,
mode, cyclic option orders, RAG and limit; watch progress and live accuracy; compare the methods
in a table (each cell with n, invalid rate, source, best constant answer, chance, the answer
distribution and the paired difference from the base row; Enter on a row makes it the base) and
a bar chart with 95% intervals; browse wrong answers with the model's output.

A thread worker of this screen renders the events of `evals.session.run_session` (the same loop
as `medtui eval run`), so results land in the same store and
`medtui eval compare` shows them too. Esc stops the run; its predictions stay saved and the
next run resumes. A model that fails to load is reported and skipped, not the whole run.
"""

import threading

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Input,
    Label,
    OptionList,
    ProgressBar,
    Select,
    SelectionList,
    Static,
    Switch,
    TabbedContent,
    TabPane,
)

from evals.compare import Comparison, comparison
from evals.items import LETTERS
from evals.runner import Mode, Permute, TaskProgress
from evals.scoring import Prediction
from evals.session import EvalRequest, Failed, ModelLoading, TaskFinished, run_session
from evals.stats import format_accuracy
from evals.store import RunRow, RunStore
from evals.summary import summarize
from evals.tasks import TASKS
from medtui.core.config import Settings
from medtui.core.errors import MedtuiError
from medtui.core.registry import Registry
from medtui.tui.widgets.evals.accuracy_chart import AccuracyChart
from medtui.tui.widgets.evals.comparison_table import ComparisonTable


class EvalScreen(Screen):
    CSS_PATH = "eval_screen.tcss"
    BINDINGS = [Binding("escape", "stop_or_close", "Stop / close")]
    HELP = (
        "Pick models and benchmarks, then Run. Esc stops a run (it resumes next time) or closes the screen. "
        "Enter on a comparison row makes it the base the other rows are tested against."
    )

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.cancel = threading.Event()
        self.running = False
        self.run_ids: set[str] = set()  # runs started from this screen: what its table and chart compare
        self.base: str | None = None  # the method the table tests the others against (None: the first row)
        self.wrong: list[tuple[str, str, Prediction]] = []  # (task, source, prediction)
        self._items: dict[tuple[str, str], dict] = {}

    def compose(self) -> ComposeResult:
        models = [
            (f"{spec.name}  ({spec.describe()})", spec.name, spec.name == self.settings.model)
            for spec in Registry().all()
        ]
        with Vertical(id="setup"):
            with Horizontal(id="pickers"):
                with Vertical():
                    yield Label("Models (space toggles)")
                    yield SelectionList[str](*models, id="models")
                with Vertical():
                    yield Label("Benchmarks")
                    yield SelectionList[str](
                        *[(f"{name}  ({task.size})", name, name.startswith("mmlu_")) for name, task in TASKS.items()],
                        id="tasks",
                    )
            with Horizontal(id="options"):
                yield Label("Mode")
                yield Select(
                    [("loglik", "loglik"), ("generate", "generate")], value="loglik", allow_blank=False, id="mode"
                )
                yield Label("Cyclic orders")
                yield Switch(value=False, id="permute", tooltip="loglik: score every cyclic order of the options")
                yield Label("RAG")
                yield Switch(value=False, id="rag")
                yield Label("Limit")
                yield Input("50", type="integer", id="limit")
                yield Button("Run", variant="primary", id="run")
            yield ProgressBar(id="progress", show_eta=True)
            yield Static("", id="live")
        with TabbedContent(id="views"):
            with TabPane("Comparison", id="tab-table"):
                yield ComparisonTable(id="results", cursor_type="row")
                yield DataTable(id="runs", cursor_type="row")
            with TabPane("Chart", id="tab-chart"):
                yield AccuracyChart(id="chart")
            with TabPane("Wrong answers", id="tab-wrong"), Horizontal():
                yield OptionList(id="wrong")
                with VerticalScroll(id="detail"):
                    yield Static("", id="detail-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs", DataTable).add_columns(
            "method",
            "task",
            "n",
            "accuracy [95% CI]",
            "invalid",
            "source",
            "state",
            "best constant",
            "chance",
            "answers",
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "run" or self.running:
            return
        models = list(self.query_one("#models", SelectionList).selected)
        tasks = list(self.query_one("#tasks", SelectionList).selected)
        raw = self.query_one("#limit", Input).value.strip()
        if not models or not tasks:
            self.notify("pick at least one model and one benchmark", severity="error")
            return
        if raw and (not raw.isdigit() or int(raw) < 1):
            self.notify("limit must be a positive whole number, or empty for all questions", severity="error")
            return
        try:
            request = EvalRequest(
                models,
                [TASKS[name] for name in tasks],
                Mode.parse(str(self.query_one("#mode", Select).value)),
                self.query_one("#rag", Switch).value,
                int(raw) if raw else None,
                self.settings.seed,
                permute=Permute.CYCLIC if self.query_one("#permute", Switch).value else Permute.NONE,
            )
        except MedtuiError as e:
            self.notify(str(e), severity="error")
            return
        self.running = True
        self.cancel.clear()
        self.run_benchmarks(request)

    @work(thread=True, exclusive=True, group="eval")
    def run_benchmarks(self, request: EvalRequest) -> None:
        """Render `evals.session`'s events: the same loop as `medtui eval run`."""
        live = self.query_one("#live", Static)
        bar = self.query_one(ProgressBar)
        loading = ModelLoading("", 0, len(request.models))
        try:
            store = RunStore()
            if store.notice:
                self.app.call_from_thread(self.notify, store.notice, timeout=10)
            for event in run_session(self.settings, request, self.cancel, store):
                if isinstance(event, ModelLoading):
                    loading = event
                    self.app.call_from_thread(live.update, f"loading {event.model} ({event.number}/{event.total})…")
                elif isinstance(event, Failed):
                    self.app.call_from_thread(
                        self.notify, f"{event.model}: {event.error}", severity="error", timeout=10
                    )
                elif isinstance(event, TaskProgress):
                    self.app.call_from_thread(bar.update, total=event.total, progress=event.done)
                    self.app.call_from_thread(
                        live.update,
                        f"model {loading.number}/{loading.total} {event.model} · {event.task}: "
                        f"{event.done}/{event.total} · accuracy so far {event.correct / event.done:.1%} (Esc stops)",
                    )
                elif isinstance(event, TaskFinished):
                    self.run_ids.add(event.result.key.id)
                    row = next(r for r in store.runs() if r.key.id == event.result.key.id)
                    self.app.call_from_thread(self._show_result, row, event.result.predictions, self._compare(store))
        except MedtuiError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
        finally:
            self.running = False
            self.app.call_from_thread(live.update, "stopped: run again to resume" if self.cancel.is_set() else "done")

    def _compare(self, store: RunStore) -> Comparison:
        """The comparison of this screen's runs, against the chosen base."""
        return comparison([r for r in store.runs() if r.key.id in self.run_ids], store=store, base=self.base)

    def _show_result(self, row: RunRow, predictions: list[Prediction], compared: Comparison) -> None:
        self.query_one(ComparisonTable).show(compared)
        self.query_one(AccuracyChart).show(compared)
        s = summarize(predictions, TASKS[row.key.task].option_labels)
        label, _ = s.best_constant
        self.query_one("#runs", DataTable).add_row(
            row.key.method,
            row.key.task,
            str(s.n),
            format_accuracy(s.correct, s.n),
            f"{s.invalid_rate:.1%}" if s.n else "–",
            row.key.source,
            row.state,
            f"{s.best_constant_rate:.1%} ({label})",
            f"{s.chance:.1%}",
            s.distribution(),
        )
        wrong = [(row.key.task, row.key.source, p) for p in predictions if not p.correct]
        self.wrong += wrong
        self.query_one("#wrong", OptionList).add_options(
            [f"{row.key.model} · {t} · {p.item_id} · answered {_letter(p)}" for t, _, p in wrong]
        )

    @on(DataTable.RowSelected, "#results")
    def _choose_base(self, event: DataTable.RowSelected) -> None:
        """Enter on a method makes it the base the other rows are tested against."""
        if self.running or event.row_key.value is None:
            return
        self.base = event.row_key.value
        self.query_one(ComparisonTable).show(self._compare(RunStore()))  # the chart does not depend on the base

    @on(OptionList.OptionHighlighted, "#wrong")
    def _show_wrong(self, event: OptionList.OptionHighlighted) -> None:
        task, source, p = self.wrong[event.option_index]
        if (task, source) not in self._items:
            self._items[(task, source)] = {i.id: i for i in TASKS[task].load(source)[1]}
        item = self._items[(task, source)][p.item_id]
        options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices))
        verdict = f"correct: {item.answer_letter}   model: {_letter(p)}"
        self.query_one("#detail-text", Static).update(
            f"{item.question}\n\n{options}\n\n{verdict}\n\nmodel output:\n{p.output}"
        )

    def action_stop_or_close(self) -> None:
        if self.running:
            self.cancel.set()
        else:
            self.dismiss()


def _letter(p: Prediction) -> str:
    return LETTERS[p.predicted] if p.predicted is not None else "invalid"

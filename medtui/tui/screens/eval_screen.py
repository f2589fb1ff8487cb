"""Run benchmarks from the TUI: pick several models (GGUFs, HF folders, adapters), benchmarks,
mode, RAG and limit; watch progress and live accuracy; compare the methods in a table and a
bar chart with 95% intervals; browse wrong answers with the model's output.

Models run one after another in a thread worker of this screen through `evals.runner.run_task`
(the same service as `medtui eval run`), so results land in the same store and
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
from evals.runner import run_task
from evals.scoring import Prediction
from evals.stats import format_accuracy
from evals.store import RunRow, RunStore
from evals.tasks import TASKS
from medtui.core.config import Settings
from medtui.core.errors import MedtuiError
from medtui.core.registry import Registry
from medtui.core.wiring import open_engine, open_retriever
from medtui.tui.widgets.evals.accuracy_chart import AccuracyChart
from medtui.tui.widgets.evals.comparison_table import ComparisonTable


class EvalScreen(Screen):
    DEFAULT_CSS = """
    EvalScreen #setup { height: auto; padding: 0 1; }
    EvalScreen #setup Horizontal { height: auto; }
    EvalScreen #options Label { padding: 1 1 0 0; }
    EvalScreen #pickers Vertical { height: auto; width: 1fr; }
    EvalScreen #models, EvalScreen #tasks { height: 7; }
    EvalScreen #limit { width: 12; }
    EvalScreen #mode { width: 16; }
    EvalScreen #runs { height: auto; max-height: 10; }
    EvalScreen #wrong { height: 1fr; }
    EvalScreen #detail { height: 1fr; border-left: solid $panel; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "stop_or_close", "Stop / close")]
    HELP = "Pick models and benchmarks, then Run. Esc stops a run (it resumes next time) or closes the screen."

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.cancel = threading.Event()
        self.running = False
        self.run_ids: set[str] = set()  # runs started from this screen: what its table and chart compare
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
            "method", "task", "n", "accuracy [95% CI]", "invalid", "source", "state"
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
        self.running = True
        self.cancel.clear()
        self.run_benchmarks(
            models,
            tasks,
            str(self.query_one("#mode", Select).value),
            self.query_one("#rag", Switch).value,
            int(raw) if raw else None,
        )

    @work(thread=True, exclusive=True, group="eval")
    def run_benchmarks(self, models: list[str], tasks: list[str], mode: str, rag: bool, limit: int | None) -> None:
        live = self.query_one("#live", Static)
        bar = self.query_one(ProgressBar)
        try:
            retriever = open_retriever(self.settings.replace(rag=True)) if rag else None
            store = RunStore()
            for number, model in enumerate(models, 1):
                if self.cancel.is_set():
                    break
                self.app.call_from_thread(live.update, f"loading {model} ({number}/{len(models)})…")
                try:
                    engine = open_engine(self.settings, model)
                except MedtuiError as e:  # one broken model does not stop the others
                    self.app.call_from_thread(self.notify, f"{model}: {e}", severity="error", timeout=10)
                    continue
                try:
                    for name in tasks:

                        def progress(
                            done: int,
                            total: int,
                            correct: int,
                            name: str = name,
                            model: str = model,
                            number: int = number,
                        ) -> None:
                            self.app.call_from_thread(bar.update, total=total, progress=done)
                            self.app.call_from_thread(
                                live.update,
                                f"model {number}/{len(models)} {model} · {name}: {done}/{total} · "
                                f"accuracy so far {correct / done:.1%} (Esc stops)",
                            )

                        result = run_task(
                            engine,
                            TASKS[name],
                            mode=mode,
                            retriever=retriever,
                            limit=limit,
                            seed=self.settings.seed,
                            store=store,
                            progress=progress,
                            cancel=self.cancel,
                        )
                        self.run_ids.add(result.key.id)
                        runs = [r for r in store.runs() if r.key.id in self.run_ids]
                        row = next(r for r in runs if r.key.id == result.key.id)
                        self.app.call_from_thread(self._show_result, row, result.predictions, comparison(runs))
                        if result.cancelled:
                            break
                except MedtuiError as e:
                    self.app.call_from_thread(self.notify, f"{model}: {e}", severity="error", timeout=10)
                finally:
                    engine.close()
        except MedtuiError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
        finally:
            self.running = False
            self.app.call_from_thread(live.update, "stopped: run again to resume" if self.cancel.is_set() else "done")

    def _show_result(self, row: RunRow, predictions: list[Prediction], compared: Comparison) -> None:
        self.query_one(ComparisonTable).show(compared)
        self.query_one(AccuracyChart).show(compared)
        n = len(predictions)
        invalid = sum(p.predicted is None for p in predictions)
        self.query_one("#runs", DataTable).add_row(
            row.key.method,
            row.key.task,
            str(n),
            format_accuracy(row.correct, n),
            f"{invalid / n:.1%}" if n else "–",
            row.key.source,
            row.state,
        )
        wrong = [(row.key.task, row.key.source, p) for p in predictions if not p.correct]
        self.wrong += wrong
        self.query_one("#wrong", OptionList).add_options(
            [
                f"{row.key.model} · {t} · {p.item_id} · answered {LETTERS[p.predicted] if p.predicted is not None else 'invalid'}"
                for t, _, p in wrong
            ]
        )

    @on(OptionList.OptionHighlighted, "#wrong")
    def _show_wrong(self, event: OptionList.OptionHighlighted) -> None:
        task, source, p = self.wrong[event.option_index]
        if (task, source) not in self._items:
            self._items[(task, source)] = {i.id: i for i in TASKS[task].load(source)[1]}
        item = self._items[(task, source)][p.item_id]
        options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices))
        picked = LETTERS[p.predicted] if p.predicted is not None else "invalid"
        self.query_one("#detail-text", Static).update(
            f"{item.question}\n\n{options}\n\ncorrect: {item.answer_letter}   model: {picked}\n\nmodel output:\n{p.output}"
        )

    def action_stop_or_close(self) -> None:
        if self.running:
            self.cancel.set()
        else:
            self.dismiss()

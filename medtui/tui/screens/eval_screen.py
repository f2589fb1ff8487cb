"""Run benchmarks from the TUI: pick several models (GGUFs, HF folders, adapters), benchmarks,
mode, cyclic option orders, RAG and limit; watch progress and live accuracy; compare the methods
in a table (each cell with n, invalid rate, source, best constant answer, chance, the answer
distribution and the paired difference from the base row; Enter on a row makes it the base) and
a bar chart with 95% intervals; browse wrong answers with the model's output.

A thread worker of this screen renders the events of `evals.session.run_session` (the same loop
as `medtui eval run`), so results land in the same store and
`medtui eval compare` shows them too. Esc stops the run; its predictions stay saved and the
next run resumes. A model that fails to load, or a benchmark that cannot (medqa offline), is
reported and skipped, not the whole run, and the reason stays above the results.

The "Seed study" preset selects the study's benchmarks and asks for SFT data and a CPT corpus;
Run then runs `medtui.workflows.study` (the same workflow as `medtui study run`) on the one
selected base model: it trains what is missing, scores base, RAG, SFT and MSFT on the same
questions and shows them in the same table, tested against the base.
"""

import threading

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
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
    Tabs,
)

from evals.compare import SAMPLE_NOTE, Comparison, comparison
from evals.items import LETTERS
from evals.runner import Mode, Permute, TaskProgress
from evals.scoring import Prediction
from evals.session import EvalRequest, Event, Failed, ModelLoading, TaskFinished, run_session
from evals.stats import format_accuracy
from evals.store import RunRow, RunStore
from evals.summary import summarize
from evals.task_files import known_tasks
from evals.tasks import TASKS, Task, offline_rows
from medtui.core.config import Settings
from medtui.core.errors import MedtuiError
from medtui.core.registry import Registry
from medtui.tui.forms import FormMemory
from medtui.tui.widgets.evals.accuracy_chart import AccuracyChart
from medtui.tui.widgets.evals.comparison_table import ComparisonTable, ResultTable
from medtui.tui.widgets.footer import KeysFooter
from medtui.tui.widgets.ticks import TickedSelectionList, show_switch_state, switch_with_state
from medtui.tui.widgets.train.data_fields import data_fields
from medtui.workflows.study import (
    Evaluated,
    Exported,
    Method,
    Note,
    StudyFinished,
    StudyPlan,
    TableReady,
    TrainingFinished,
    TrainingProgress,
    TrainingStarted,
    run_study,
    study_task_names,
)

STUDY_HINT = (
    "SFT data: a JSONL/CSV file, a saved dataset or a Hub id. CPT corpus: index:NAME, a Hub id, "
    "a JSONL/CSV file or .txt/.md files. Methods: any of base, rag, sft and msft, comma-separated."
)
NO_RESULTS = "No results yet: tick models and benchmarks above, then Run."


class EvalScreen(Screen):
    CSS_PATH = "eval_screen.tcss"
    BINDINGS = [
        Binding("escape", "stop_or_close", "Stop / close"),
        Binding("left", "switch_view(-1)", "Previous view", show=False),
        Binding("right", "switch_view(1)", "Next view", show=False),
    ]
    VIEWS = ("tab-table", "tab-chart", "tab-wrong")
    HELP = (
        "Pick models and benchmarks, then Run. Esc stops a run (it resumes next time) or closes the screen. "
        "Enter on a comparison row makes it the base the other rows are tested against; left and right switch "
        "between the comparison, the chart and the wrong answers. The Seed study preset "
        "trains SFT and MSFT adapters of the one selected model and compares base, RAG, SFT and MSFT."
    )

    def __init__(self, settings: Settings, memory: FormMemory | None = None) -> None:
        """`memory`: the form's values when it was last closed, kept by the app for the session."""
        super().__init__()
        self.settings = settings
        self.memory = memory or FormMemory()
        self.cancel = threading.Event()
        self.running = False
        self.run_ids: set[str] = set()  # runs started from this screen: what its table and chart compare
        self.base: str | None = None  # the method the table tests the others against (None: the first row)
        self.wrong: list[tuple[str, str, Prediction]] = []  # (task, source, prediction)
        self.scoring = ModelLoading("", 0, 0)  # the model being scored, for the progress line
        self._items: dict[tuple[str, str], dict] = {}
        self.failures: list[str] = []  # "model · task: why" for this run: kept on screen after the toasts
        self.tasks_error = ""  # a task file with a mistake: said once the screen shows, the built-in tasks offered
        try:
            self.tasks: dict[str, Task] = known_tasks(settings.task_dir)
        except MedtuiError as e:
            self.tasks, self.tasks_error = dict(TASKS), str(e)

    def compose(self) -> ComposeResult:
        models = [
            (
                # the built-in's path lies deep in the installed package: its kind says enough
                f"{spec.name}  ({'built-in GGUF' if spec.builtin else spec.describe()})",
                spec.name,
                spec.name == self.settings.model,
            )
            for spec in Registry().all()
        ]
        tasks = [(_task_label(task), name, name.startswith("mmlu_")) for name, task in self.tasks.items()]
        with Vertical(id="setup"):
            with Horizontal(id="pickers"):
                with Vertical():
                    yield Label("Models (space toggles)")
                    yield TickedSelectionList(*models, id="models")
                with Vertical():
                    yield Label(_ticked(sum(picked for *_, picked in tasks)), id="tasks-title")
                    yield TickedSelectionList(*tasks, id="tasks")
            # Rows of fields (a label and what it labels) that wrap into a grid where the row is
            # wider than the terminal (eval_screen.tcss).
            with Horizontal(id="options", classes="fields"):
                with Horizontal(classes="field"):
                    yield Label("Preset")
                    yield Select(
                        [("custom", "custom"), ("Seed study", "study")], value="custom", allow_blank=False, id="preset"
                    )
                with Horizontal(classes="field"):
                    yield Label("Mode")
                    yield Select(
                        [("loglik", "loglik"), ("generate", "generate")], value="loglik", allow_blank=False, id="mode"
                    )
                with Horizontal(classes="field"):
                    yield Label("Cyclic orders")
                    yield from switch_with_state("permute", False, "loglik: score every cyclic order of the options")
                with Horizontal(classes="field"):
                    yield Label("RAG")
                    yield from switch_with_state("rag", False)
                with Horizontal(classes="field"):
                    yield Label("Limit")
                    yield Input("50", type="integer", id="limit")
                with Horizontal(classes="field actions"):
                    yield Button("Run", variant="primary", id="run")
            with Vertical(id="study"):
                with Horizontal(classes="fields"):
                    yield from data_fields("sft-data", "cpt-data")
                    with Horizontal(classes="field"):
                        yield Label("Methods")
                        yield Input(",".join(Method), id="methods")
                yield Static(STUDY_HINT, classes="hint", markup=False)
            yield ProgressBar(id="progress", show_eta=True)
            yield Static("", id="live")
        with TabbedContent(id="views"):
            with TabPane("Comparison", id="tab-table"):
                yield Static("", id="failures", classes="note", markup=False)
                yield ComparisonTable(id="results", cursor_type="row")
                yield Static(SAMPLE_NOTE, id="table-note", classes="note", markup=False)
                yield ResultTable(id="runs", cursor_type="row")
            with TabPane("Chart", id="tab-chart"):
                yield AccuracyChart(id="chart")
                yield Static(NO_RESULTS, id="chart-note", classes="note", markup=False)
            with TabPane("Wrong answers", id="tab-wrong"), Horizontal():
                yield OptionList(id="wrong")
                with VerticalScroll(id="detail"):
                    yield Static("", id="detail-text", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        if self.tasks_error:
            self.notify(self.tasks_error, severity="error", timeout=10)
        self.query_one("#runs", ResultTable).add_columns(
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

    def on_screen_suspend(self, _: events.ScreenSuspend) -> None:
        """Another screen on top (F5, then F4 again opens a second F4) starts from these values."""
        self.memory.save(self.query_one("#setup"))

    def on_screen_resume(self, _: events.ScreenResume) -> None:
        """Shown, first or again: the form as last left, also by a second F4 opened over F5 above."""
        self.memory.restore(self.query_one("#setup"))
        self.query_one("#study").display = self.query_one("#preset", Select).value == "study"

    @on(SelectionList.SelectedChanged, "#tasks")
    def _count_ticks(self) -> None:
        """Six MMLU subjects are ticked by default, below the fold of a short list: the title counts them."""
        self.query_one("#tasks-title", Label).update(_ticked(len(self.query_one("#tasks", SelectionList).selected)))

    @on(Select.Changed, "#preset")
    def _preset(self, event: Select.Changed) -> None:
        """The seed study shows its own fields and selects its benchmarks and methods."""
        study = event.value == "study"
        self.query_one("#study").display = study
        if not study:
            return
        tasks = self.query_one("#tasks", TickedSelectionList)
        tasks.deselect_all()
        for name in study_task_names(self.settings.task_dir):
            tasks.select(name)
        self.query_one("#methods", Input).value = ",".join(Method)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "run" or self.running:
            return
        models = list(self.query_one("#models", TickedSelectionList).selected)
        tasks = list(self.query_one("#tasks", TickedSelectionList).selected)
        raw = self.query_one("#limit", Input).value.strip()
        if not models or not tasks:
            self.notify("pick at least one model and one benchmark", severity="error")
            return
        if raw and (not raw.isdigit() or int(raw) < 1):
            self.notify("limit must be a positive whole number, or empty for all questions", severity="error")
            return
        limit = int(raw) if raw else None
        mode = Mode.parse(str(self.query_one("#mode", Select).value))
        if self.query_one("#preset", Select).value == "study":
            self._start_study(models, tasks, limit, mode)
            return
        try:
            request = EvalRequest(
                models,
                [self.tasks[name] for name in tasks],
                mode,
                self.query_one("#rag", Switch).value,
                limit,
                self.settings.seed,
                permute=Permute.CYCLIC if self.query_one("#permute", Switch).value else Permute.NONE,
            )
        except MedtuiError as e:
            self.notify(str(e), severity="error")
            return
        self._start(models, tasks)
        self.run_benchmarks(request)

    def _start_study(self, models: list[str], tasks: list[str], limit: int | None, mode: Mode) -> None:
        if len(models) != 1:
            self.notify("the seed study trains on one base model: select exactly one", severity="error")
            return
        methods = self.query_one("#methods", Input).value
        try:
            plan = StudyPlan(
                models[0],
                self.query_one("#sft-data", Input).value.strip(),
                self.query_one("#cpt-data", Input).value.strip(),
                tuple(tasks),
                tuple(Method.parse(m.strip()) for m in methods.split(",") if m.strip()),
                limit,
                self.settings.seed,
                mode,
                self.settings.top_k,
            )
        except MedtuiError as e:
            self.notify(str(e), severity="error")
            return
        self._start(models, tasks)
        self.run_seed_study(plan)

    def _start(self, models: list[str], tasks: list[str]) -> None:
        """Say what starts (ticks may lie below the fold) and clear the last run's failures."""
        self.running = True
        self.cancel.clear()
        self.failures.clear()
        self._show_failures()
        self.query_one(ProgressBar).update(total=None, progress=0)  # not the last run's bar, full
        self.add_class("-running")  # the progress bar shows while a run goes: idle, it would pulse as if busy
        self.notify(f"running {_count(len(tasks), 'benchmark')} on {', '.join(models)}: {', '.join(tasks)}")

    @work(thread=True, exclusive=True, group="eval")
    def run_benchmarks(self, request: EvalRequest) -> None:
        """Render `evals.session`'s events: the same loop as `medtui eval run`."""
        try:
            store = self._store()
            for event in run_session(self.settings, request, self.cancel, store):
                self._render_eval(event, store)
        except MedtuiError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
        finally:
            self._finished()

    @work(thread=True, exclusive=True, group="eval")
    def run_seed_study(self, plan: StudyPlan) -> None:
        """Render `medtui.workflows.study`'s events: the same workflow as `medtui study run`."""
        live, bar = self.query_one("#live", Static), self.query_one(ProgressBar)
        say = lambda text: self.app.call_from_thread(live.update, text)
        try:
            store = self._store()
            for event in run_study(self.settings, plan, self.cancel, store):
                if isinstance(event, Note):
                    say(event.text)
                elif isinstance(event, TrainingStarted):
                    say(f"{event.method}: {'resuming' if event.resumed else 'training'} {event.run}… (Esc stops)")
                elif isinstance(event, TrainingProgress) and event.record.loss is not None:
                    r = event.record
                    self.app.call_from_thread(bar.update, total=r.max_steps, progress=r.step)
                    say(f"{event.method}: [{r.stage}] step {r.step}/{r.max_steps} · loss {r.loss:.4f} (Esc stops)")
                elif isinstance(event, TrainingFinished):
                    say(f"{event.method}: {event.model} {'reused' if event.reused else 'trained'}")
                elif isinstance(event, Evaluated):
                    if isinstance(event.event, TaskFinished) and event.method is Method.BASE:
                        self.base = event.event.result.key.method  # the study tests every row against the base
                    self._render_eval(event.event, store, f"{event.method} · ")
                elif isinstance(event, TableReady):
                    self.app.call_from_thread(self._show_comparison, event.comparison)
                elif isinstance(event, Exported):
                    self.app.call_from_thread(self.notify, f"{event.method}: exported as {event.model}")
                elif isinstance(event, StudyFinished) and event.failures:
                    message = f"{event.failures} benchmark run(s) failed: the reasons are above the results"
                    self.app.call_from_thread(self.notify, message, severity="error", timeout=10)
        except MedtuiError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
        finally:
            self._finished()

    def _store(self) -> RunStore:
        """The run store, saying what opening it changed (once: the change is then made)."""
        store = RunStore()
        if store.notice:
            self.app.call_from_thread(self.notify, store.notice, timeout=10)
        return store

    def _render_eval(self, event: Event, store: RunStore, prefix: str = "") -> None:
        """One eval session event, from a worker thread; `prefix` names the study's method."""
        live = self.query_one("#live", Static)
        if isinstance(event, ModelLoading):
            self.scoring = event
            self.app.call_from_thread(live.update, f"{prefix}loading {event.model} ({event.number}/{event.total})…")
        elif isinstance(event, Failed):
            # "model · task: why", the task named once (a task's own errors start with its name)
            task = f" · {event.task}" if event.task else ""
            failed = f"{prefix}{event.model}{task}: {event.error.removeprefix(f'{event.task}: ')}"
            self.failures.append(failed)
            self.app.call_from_thread(self._show_failures)
            self.app.call_from_thread(self.notify, failed, severity="error", timeout=10)
        elif isinstance(event, TaskProgress):
            self.app.call_from_thread(self.query_one(ProgressBar).update, total=event.total, progress=event.done)
            self.app.call_from_thread(
                live.update,
                f"{prefix}model {self.scoring.number}/{self.scoring.total} {event.model} · {event.task}: "
                f"{event.so_far()} (Esc stops)",
            )
        elif isinstance(event, TaskFinished):
            self.run_ids.add(event.result.key.id)
            row = next(r for r in store.runs() if r.key.id == event.result.key.id)
            self.app.call_from_thread(self._show_result, row, event.result.predictions, self._compare(store))

    def _finished(self) -> None:
        self.app.call_from_thread(self._show_finished, self.cancel.is_set())

    def _show_finished(self, stopped: bool) -> None:
        """On the app's thread, all at once: whoever sees `running` false also sees the run's end."""
        self.running = False
        self.remove_class("-running")
        self.query_one("#live", Static).update("stopped: run again to resume" if stopped else "done")

    def _show_failures(self) -> None:
        failures = self.query_one("#failures", Static)
        failures.update("\n".join(self.failures))
        failures.display = bool(self.failures)

    def _compare(self, store: RunStore) -> Comparison:
        """The comparison of this screen's runs, against the chosen base."""
        return comparison(
            [r for r in store.runs() if r.key.id in self.run_ids], store=store, base=self.base, known=self.tasks
        )

    def _show_comparison(self, compared: Comparison) -> None:
        """The table, the chart, and under the chart each bar's score with its n and invalid rate
        (the table's own first two lines of each cell), which bars cannot show."""
        self.query_one(ComparisonTable).show(compared)
        self.query_one(AccuracyChart).show(compared)
        lines = [
            f"{row[0]} · {task}: {cell.splitlines()[0]} · {cell.splitlines()[1]}"
            for row in compared.table()
            for task, cell in zip(compared.tasks, row[1:])
            if "\n" in cell
        ]
        self.query_one("#chart-note", Static).update("\n".join([*lines, SAMPLE_NOTE]) if lines else NO_RESULTS)

    def _show_result(self, row: RunRow, predictions: list[Prediction], compared: Comparison) -> None:
        self._show_comparison(compared)
        s = summarize(predictions, self.tasks[row.key.task].option_labels)
        label, _ = s.best_constant
        self.query_one("#runs", ResultTable).add_row(
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

    @on(ComparisonTable.RowSelected, "#results")
    def _choose_base(self, event: ComparisonTable.RowSelected) -> None:
        """Enter on a method makes it the base the other rows are tested against."""
        if self.running or event.row_key.value is None:
            return
        self.base = event.row_key.value
        self.query_one(ComparisonTable).show(self._compare(RunStore()))  # the chart does not depend on the base

    @on(OptionList.OptionHighlighted, "#wrong")
    def _show_wrong(self, event: OptionList.OptionHighlighted) -> None:
        task, source, p = self.wrong[event.option_index]
        if (task, source) not in self._items:
            self._items[(task, source)] = {i.id: i for i in self.tasks[task].load(source)[1]}
        item = self._items[(task, source)][p.item_id]
        options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices))
        verdict = f"correct: {item.answer_letter}   model: {_letter(p)}"
        self.query_one("#detail-text", Static).update(
            f"{item.question}\n\n{options}\n\n{verdict}\n\nmodel output:\n{p.output}"
        )

    def on_switch_changed(self, event: Switch.Changed) -> None:
        show_switch_state(self, event)

    def action_switch_view(self, step: int) -> None:
        """Left/right from inside the results (a table with nothing more to scroll sideways, the
        wrong-answer list) go to the next view; the tab bar then has the focus, so arrows go on."""
        views = self.query_one("#views", TabbedContent)
        if self.focused is None or views not in self.focused.ancestors_with_self:
            return
        views.active = self.VIEWS[(self.VIEWS.index(views.active) + step) % len(self.VIEWS)]
        views.query_one(Tabs).focus()

    def action_stop_or_close(self) -> None:
        if self.running:
            self.cancel.set()
        else:
            self.memory.save(self.query_one("#setup"))
            self.dismiss()


def _task_label(task: Task) -> str:
    """The name, with the number of questions where the task declares it (a task file may not),
    and whether it needs the Hub: offline it fails, so the list says so before Run."""
    size = str(task.size) if task.size is not None else "task file"
    return f"{task.name}  ({size}{', needs the Hub' if _needs_hub(task) else ''})"


def _needs_hub(task: Task) -> bool:
    """Every source is the Hub, or a built-in's file of Hub rows that was not saved (medqa's);
    a file system check only, no network."""
    return all(
        s.name == "hub" or (s.name == "file" and not task.origin and not offline_rows(task.name).exists())
        for s in task.sources
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _ticked(n: int) -> str:
    return f"Benchmarks ({n} ticked)"


def _letter(p: Prediction) -> str:
    return LETTERS[p.predicted] if p.predicted is not None else "invalid"

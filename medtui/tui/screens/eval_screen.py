"""Run benchmarks from the TUI: pick model, tasks, mode, RAG and limit; watch progress and
live accuracy; see accuracy with 95% intervals as a table and bars; browse wrong answers.

The run happens in a thread worker of this screen through `evals.runner.run_task` (the same
service as `medtui eval run`), so results land in the same store and `medtui eval compare`
shows them too. Esc stops the run; its predictions stay saved and the next run resumes.
"""

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, OptionList, ProgressBar, Select, SelectionList, Static, Switch

from evals.items import LETTERS
from evals.runner import run_task
from evals.scoring import Prediction
from evals.stats import format_accuracy, wilson
from evals.store import RunStore
from evals.tasks import TASKS
from medtui.config import Settings
from medtui.errors import MedtuiError
from medtui.registry import Registry
from medtui.services import open_engine, open_retriever

BAR = 40


def interval_bar(accuracy: float, low: float, high: float) -> Text:
    """A bar for the accuracy with the 95% interval drawn around its end."""
    cells = [" "] * BAR
    for i in range(int(low * BAR), min(BAR, int(high * BAR) + 1)):
        cells[i] = "─"
    bar = Text("█" * int(accuracy * BAR), style="green")
    bar.append("".join(cells[int(accuracy * BAR):]), style="yellow")
    return bar


class EvalScreen(Screen):
    DEFAULT_CSS = """
    EvalScreen #setup { height: auto; padding: 0 1; }
    EvalScreen #setup Horizontal { height: auto; }
    EvalScreen #setup Label { padding: 1 1 0 0; }
    EvalScreen #tasks { height: 8; width: 48; }
    EvalScreen #limit { width: 12; }
    EvalScreen #model { width: 30; }
    EvalScreen #mode { width: 16; }
    EvalScreen #results { height: auto; max-height: 12; }
    EvalScreen #chart { height: auto; padding: 0 1; }
    EvalScreen #wrong { height: 1fr; }
    EvalScreen #detail { height: 1fr; border-left: solid $panel; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "stop_or_close", "Stop / close")]
    HELP = "Pick a model and benchmarks, then Run. Esc stops a run (it resumes next time) or closes the screen."

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.cancel = threading.Event()
        self.running = False
        self.wrong: list[tuple[str, str, Prediction]] = []  # (task, source, prediction)
        self.chart_lines: list[Text] = []
        self._items: dict[tuple[str, str], dict] = {}

    def compose(self) -> ComposeResult:
        models = [(spec.name, spec.name) for spec in Registry().all()]
        with Vertical(id="setup"):
            with Horizontal():
                yield Label("Model")
                yield Select(models, value=self.settings.model, allow_blank=False, id="model")
                yield Label("Mode")
                yield Select([("loglik", "loglik"), ("generate", "generate")], value="loglik", allow_blank=False, id="mode")
                yield Label("RAG")
                yield Switch(value=False, id="rag")
                yield Label("Limit")
                yield Input("50", type="integer", id="limit")
                yield Button("Run", variant="primary", id="run")
            yield SelectionList[str](*[(f"{name}  ({task.size})", name, name.startswith("mmlu_")) for name, task in TASKS.items()], id="tasks")
            yield ProgressBar(id="progress", show_eta=True)
            yield Static("", id="live")
        yield DataTable(id="results", cursor_type="row")
        yield Static("", id="chart")
        with Horizontal():
            yield OptionList(id="wrong")
            with VerticalScroll(id="detail"):
                yield Static("", id="detail-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("model", "task", "mode", "n", "accuracy [95% CI]", "invalid", "source")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "run" or self.running:
            return
        tasks = list(self.query_one(SelectionList).selected)
        raw = self.query_one("#limit", Input).value.strip()
        if not tasks:
            self.notify("pick at least one benchmark", severity="error")
            return
        if raw and (not raw.isdigit() or int(raw) < 1):
            self.notify("limit must be a positive whole number, or empty for all questions", severity="error")
            return
        self.running = True
        self.cancel.clear()
        self.run_benchmarks(str(self.query_one("#model", Select).value), tasks, str(self.query_one("#mode", Select).value),
                            self.query_one("#rag", Switch).value, int(raw) if raw else None)

    @work(thread=True, exclusive=True, group="eval")
    def run_benchmarks(self, model: str, tasks: list[str], mode: str, rag: bool, limit: int | None) -> None:
        live = self.query_one("#live", Static)
        bar = self.query_one(ProgressBar)
        try:
            self.app.call_from_thread(live.update, f"loading {model}…")
            engine = open_engine(self.settings, model)
            retriever = open_retriever(self.settings.replace(rag=True)) if rag else None
            store = RunStore()
            try:
                for name in tasks:
                    def progress(done: int, total: int, correct: int, name: str = name) -> None:
                        self.app.call_from_thread(bar.update, total=total, progress=done)
                        self.app.call_from_thread(live.update, f"{model} · {name}: {done}/{total} · accuracy so far {correct / done:.1%} (Esc stops)")

                    result = run_task(engine, TASKS[name], mode=mode, retriever=retriever, limit=limit, seed=self.settings.seed,
                                      store=store, progress=progress, cancel=self.cancel)
                    self.app.call_from_thread(self._show_result, model, name, mode, result)
                    if result.cancelled:
                        break
            finally:
                engine.close()
        except MedtuiError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
        finally:
            self.running = False
            self.app.call_from_thread(live.update, "stopped: run again to resume" if self.cancel.is_set() else "done")

    def _show_result(self, model: str, task: str, mode: str, result) -> None:
        preds = result.predictions
        correct, n = sum(p.correct for p in preds), len(preds)
        low, high = wilson(correct, n)
        invalid = sum(p.predicted is None for p in preds)
        self.query_one(DataTable).add_row(model, task, mode + (" + RAG" if result.key.rag else ""), str(n), format_accuracy(correct, n),
                                          f"{invalid / n:.1%}" if n else "–", result.key.source)
        line = Text(f"{task:<28}")
        line.append(interval_bar(correct / n if n else 0.0, low, high))
        line.append(f" {correct / n:.1%}" if n else "")
        self.chart_lines.append(line)
        self.query_one("#chart", Static).update(Text("\n").join(self.chart_lines))
        wrong = [(task, result.key.source, p) for p in preds if not p.correct]
        self.wrong += wrong
        self.query_one("#wrong", OptionList).add_options(
            [f"{t} · {p.item_id} · answered {LETTERS[p.predicted] if p.predicted is not None else 'invalid'}" for t, _, p in wrong])

    @on(OptionList.OptionHighlighted, "#wrong")
    def _show_wrong(self, event: OptionList.OptionHighlighted) -> None:
        task, source, p = self.wrong[event.option_index]
        if (task, source) not in self._items:
            self._items[(task, source)] = {i.id: i for i in TASKS[task].load(source)[1]}
        item = self._items[(task, source)][p.item_id]
        options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices))
        picked = LETTERS[p.predicted] if p.predicted is not None else "invalid"
        self.query_one("#detail-text", Static).update(
            f"{item.question}\n\n{options}\n\ncorrect: {item.answer_letter}   model: {picked}\n\nmodel output:\n{p.output}")

    def action_stop_or_close(self) -> None:
        if self.running:
            self.cancel.set()
        else:
            self.dismiss()

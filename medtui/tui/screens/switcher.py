"""Pick a registered model (GGUF, HF folder or Hub id, with or without a LoRA adapter), or pull
one from the curated catalogue (`medtui.core.model_catalog`).

A pull runs `medtui.core.model_pull.pull` (the same as `medtui models pull`) in a thread worker
of this screen; the worker reports through typed messages, the bar shows bytes and ETA, and Esc
stops it (what was downloaded stays in the Hub cache, so choosing it again resumes). A finished
pull becomes a registered entry of the list and is announced with `ModelSwitcher.Pulled`.
"""

import threading
import time

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from medtui.core.engines.memory_fit import FALLBACK_CTX, Available, available
from medtui.core.errors import MedtuiError
from medtui.core.formatting import format_size
from medtui.core.model_catalog import CatalogEntry, fits, load_catalog
from medtui.core.model_pull import PullCancelled, pull
from medtui.core.registry import ModelSpec, Registry

PULL = "pull:"  # option id prefix; model names cannot hold ':'
REPORT_EVERY_S = 0.1


class ModelSwitcher(ModalScreen[str | None]):
    """Dismisses with the chosen model's name, or None."""

    CSS_PATH = "switcher.tcss"
    BINDINGS = [Binding("escape", "stop_or_close", "Stop pull / close")]

    class PullProgress(Message):
        def __init__(self, phase: str, done: int, total: int | None) -> None:
            super().__init__()
            self.phase, self.done, self.total = phase, done, total

    class PullFailed(Message):
        def __init__(self, error: str, cancelled: bool) -> None:
            super().__init__()
            self.error, self.cancelled = error, cancelled

    class Pulled(Message):
        """A catalogue model was downloaded, checked and registered under `name`."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(
        self, specs: list[ModelSpec], current: str, n_ctx: int = 4096, memory_limit: int | None = None
    ) -> None:
        super().__init__()
        self.specs = specs
        self.current = current
        self.n_ctx = n_ctx or FALLBACK_CTX  # 0 (auto): shown at the loader's own fallback context
        self.memory_limit = memory_limit
        self.catalog_error = ""
        self.cancel = threading.Event()
        self.pulling: str | None = None  # the catalogue name being pulled

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(" Switch model, or pull one  (your own files: `medtui models add`)")  # one line at 80
            yield OptionList(*self._options(), id="models")
            yield Static("", id="pull-status")
            yield ProgressBar(id="pull-progress", show_eta=True)
        yield Footer()

    def _options(self) -> list[Option]:
        options = []
        for spec in self.specs:
            label = Text(("● " if spec.name == self.current else "  ") + spec.name, style="bold")
            label.append(f"\n    {spec.describe()}", style="dim")
            options.append(Option(label, id=spec.name))
        registered = {s.name for s in self.specs}
        memory = available(self.memory_limit)
        try:
            catalog = load_catalog()
        except MedtuiError as e:  # a broken catalogue costs its entries, not the switcher
            self.catalog_error = str(e)
            return options
        for entry in catalog:
            if entry.name not in registered:
                options.append(Option(self._pull_label(entry, memory), id=PULL + entry.name))
        return options

    def _pull_label(self, entry: CatalogEntry, memory: Available) -> Text:
        quant = entry.smallest_quant()
        fit = fits(entry, quant, self.n_ctx, memory)
        label = Text(f"⇣ pull {entry.name}", style="bold")
        label.append(f"  {quant} {format_size(entry.files[quant].size_bytes)} · fits: {fit.verdict}")
        notes = f" · {', '.join(entry.notes)}" if entry.notes else ""
        label.append(
            f"\n    {entry.gguf_repo} · {entry.params_b:g}B · {entry.licence}{notes} · {fit.reason}", style="dim"
        )
        return label

    def on_mount(self) -> None:
        if self.catalog_error:
            self.query_one("#pull-status", Static).update(f"no models to pull: {self.catalog_error}")
        names = [s.name for s in self.specs]
        self.query_one(OptionList).highlighted = names.index(self.current) if self.current in names else 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        chosen = event.option.id or ""
        if not chosen.startswith(PULL):
            self.dismiss(chosen)
        elif self.pulling:
            self.notify(f"already pulling {self.pulling}: Esc stops it")
        else:
            entry = next(e for e in load_catalog() if e.name == chosen[len(PULL) :])
            self.pulling = entry.name
            self.cancel.clear()
            self.add_class("pulling")
            self.query_one("#pull-status", Static).update(f"pulling {entry.name} from {entry.gguf_repo} (Esc stops)")
            self.run_pull(entry)

    @work(thread=True, exclusive=True, group="pull")
    def run_pull(self, entry: CatalogEntry) -> None:
        step = {"phase": "starting", "last": 0.0}

        def phase(text: str) -> None:
            step["phase"] = text
            self.post_message(self.PullProgress(text, 0, None))

        def progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - float(step["last"]) >= REPORT_EVERY_S or done == total:
                step["last"] = now
                self.post_message(self.PullProgress(str(step["phase"]), done, total))

        try:
            result = pull(
                entry.gguf_repo,
                file=entry.files[entry.smallest_quant()].file,  # named, so an error can say which file to fetch
                name=entry.name,
                progress=progress,
                phase=phase,
                cancel=self.cancel,
            )
        except PullCancelled as e:
            self.post_message(self.PullFailed(str(e), cancelled=True))
        except MedtuiError as e:
            self.post_message(self.PullFailed(str(e), cancelled=False))
        else:
            self.post_message(self.Pulled(result.spec.name))

    @on(PullProgress)
    def _show_progress(self, event: PullProgress) -> None:
        bar = self.query_one("#pull-progress", ProgressBar)
        if event.total is None:
            bar.update(total=None, progress=0)  # a new phase: indeterminate until sizes come in
        else:
            bar.update(total=event.total, progress=event.done)
        done = format_size(event.done) + (f" of {format_size(event.total)}" if event.total else "")
        self.query_one("#pull-status", Static).update(f"{self.pulling}: {event.phase}  {done}  (Esc stops)")

    @on(PullFailed)
    def _show_failure(self, event: PullFailed) -> None:
        self.pulling = None
        self.remove_class("pulling")
        self.query_one("#pull-status", Static).update(event.error)  # in the dialog: a toast would cover the list

    @on(Pulled)
    def _show_pulled(self, event: Pulled) -> None:
        """The new model joins the registered ones, highlighted: Enter switches to it."""
        self.pulling = None
        self.remove_class("pulling")
        self.specs = Registry().all()
        models = self.query_one(OptionList)
        models.clear_options()
        models.add_options(self._options())
        models.highlighted = [s.name for s in self.specs].index(event.name)
        self.query_one("#pull-status", Static).update(f"pulled and registered {event.name}: Enter switches to it")

    def action_stop_or_close(self) -> None:
        if self.pulling:
            self.cancel.set()
            self.query_one("#pull-status", Static).update(f"stopping the pull of {self.pulling}…")
        else:
            self.dismiss(None)

"""The seed study in one resumable call: base vs RAG vs SFT vs MSFT on the same benchmark items.

The research this project grew from compared a base model, the base with retrieved sources, an
SFT adapter and an MSFT adapter (continual pretraining, merge, then SFT) on MedQA, MedMCQA,
PubMedQA and MMLU-medical. `run_study` does that from a declarative `StudyPlan` and yields typed
events, which `medtui study run` and the eval screen's "Seed study" preset render alike.

Each step is found done in stored state or done now, so rerunning the same plan continues:
- the base is the Hugging Face model the adapters train on (a GGUF is dequantized once, as
  training does), registered as `<study>-base`: every method is scored by the same engine on the
  same weights, so a paired difference measures the training, not llama.cpp against transformers;
- training runs are named `<study>-sft` and `<study>-msft` (the study name derives from the model,
  the data and the training settings): a complete one is reused, a stopped or crashed one resumes
  from its checkpoint (`trainers.api`), a missing one trains; `sft_adapter` / `msft_adapter` take
  registered adapters instead;
- every method is one eval session with the same tasks, limit, seed, mode and top-k, so all answer
  the same items; runs are keyed by everything that decides the answers (`evals.store`), so a
  finished run is read back, not rerun;
- the table is `evals.compare`'s over exactly these runs, each method tested against the base.
Methods that need no training (base, RAG) are scored first, so a task that cannot load or a
missing index shows in minutes, not after the training. Nothing is exported unless `export` names
a GGUF type.
"""

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from evals.compare import Comparison, comparison
from evals.runner import Mode
from evals.session import EvalRequest, Event, SessionFinished, TaskFinished, run_session
from evals.store import RunKey, RunStore
from evals.task_files import known_tasks
from evals.tasks import Task, resolve_tasks
from export.converter import Cancelled
from export.pipeline import ExportRequest, export_model
from medtui.core.config import Settings
from medtui.core.errors import MedtuiError
from medtui.core.records import Quant, RunStatus, Word
from medtui.core.registry import Registry, spec_from_source
from medtui.core.text import check_name
from trainers import api
from trainers.model import materialize, resolve_model
from trainers.prepare import check_sources
from trainers.runs import RUN_FILE, run_dir

STUDY_TASKS = ("medqa", "medmcqa", "pubmedqa", "mmlu_medical")  # the research's benchmarks
# TrainConfig fields a plan may set for both of its training runs (the rest are the study's own)
TRAIN_OPTIONS = tuple(
    f.name for f in fields(api.TrainConfig) if f.name not in ("method", "model", "data", "corpus", "name", "extra")
)


class Method(Word):
    """A row of the study: the base model, the base with retrieved sources, or a trained adapter."""

    BASE = "base"
    RAG = "rag"
    SFT = "sft"
    MSFT = "msft"

    @classmethod
    def noun(cls) -> str:
        return "study method"


TRAINED = (Method.SFT, Method.MSFT)
_UNSAFE = re.compile(r"[^\w.-]")  # what a model's name may hold that a study's name may not


@dataclass(frozen=True)
class StudyPlan:
    """What to compare; everything else (names, what to train, what to reuse) follows from it."""

    model: str  # the base: a registry name, .gguf file, HF folder or Hub id
    sft_data: str = ""  # SFT rows (sft and msft)
    cpt_data: str = ""  # the CPT corpus (msft)
    tasks: tuple[str, ...] = STUDY_TASKS  # benchmark or group names, among the known tasks
    methods: tuple[Method, ...] = tuple(Method)
    limit: int | None = None  # questions per task, sampled with `seed`: the same ones for every method
    seed: int = 0
    mode: Mode = Mode.LOGLIK
    top_k: int = 3  # RAG sources per question
    sft_adapter: str = ""  # a registered model with an SFT adapter, used instead of training one
    msft_adapter: str = ""
    export: str = ""  # a GGUF type (q8_0, ...): export each adapter as a verified GGUF; "" exports nothing
    name: str = ""  # the study's name; "" derives one from the model, the data and `train`
    train: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig fields for both runs: epochs, ...

    def __post_init__(self) -> None:
        if not self.methods:
            raise MedtuiError("no methods: pick some of base, rag, sft, msft")
        for method in self.methods:
            Method.parse(method)
        Mode.parse(self.mode)
        if not self.tasks:
            raise MedtuiError("no benchmarks: pass -t TASK (see `medtui eval tasks`)")
        if self.limit is not None and self.limit < 1:
            raise MedtuiError(f"--limit must be at least 1 (got {self.limit})")
        if Method.SFT in self.methods and not (self.sft_adapter or self.sft_data):
            raise MedtuiError("sft needs SFT data: pass --sft-data FILE, or --sft-adapter MODEL to use a trained one")
        if Method.MSFT in self.methods and not self.msft_adapter and not (self.sft_data and self.cpt_data):
            raise MedtuiError(
                "msft needs SFT data and a CPT corpus: pass --sft-data and --cpt-data, or --msft-adapter MODEL"
            )
        if unknown := sorted(set(self.train) - set(TRAIN_OPTIONS)):
            raise MedtuiError(f"unknown training setting {unknown[0]!r}: use one of {', '.join(TRAIN_OPTIONS)}")
        if self.export:
            Quant.parse(self.export)
        if self.name:
            check_name("study", self.name)

    @property
    def study(self) -> str:
        """The name its base and runs are registered under: given, or derived from what training
        depends on, so the same plan finds its runs again and a changed one trains anew."""
        if self.name:
            return self.name
        what = [_absolute(self.model), _absolute(self.sft_data), _absolute(self.cpt_data), sorted(self.train.items())]
        digest = hashlib.sha1(json.dumps(what, default=str).encode()).hexdigest()[:8]
        stem = Path(self.model).stem if self.model.endswith(".gguf") else self.model.rstrip("/").rsplit("/", 1)[-1]
        return f"{_UNSAFE.sub('-', stem)}-study-{digest}"

    def adapter(self, method: Method) -> str:
        """The registered adapter given for a trained method ("" : train it)."""
        return {Method.SFT: self.sft_adapter, Method.MSFT: self.msft_adapter}.get(method, "")

    def train_config(self, method: Method) -> api.TrainConfig:
        """The run that trains `method`, named after the study."""
        return api.TrainConfig(
            method=method.value,
            model=self.model,
            data=_absolute(self.sft_data),
            corpus=_absolute(self.cpt_data) if method is Method.MSFT else "",
            name=f"{self.study}-{method.value}",
            **self.train,
        )


@dataclass(frozen=True)
class Note:
    """A step the study took or found done, in one line."""

    text: str


@dataclass(frozen=True)
class TrainingStarted:
    method: Method
    run: str
    resumed: bool  # the run folder existed: it continues from its last checkpoint


@dataclass(frozen=True)
class TrainingLogged:
    method: Method
    line: str  # a line of the run's train.log


@dataclass(frozen=True)
class TrainingProgress:
    method: Method
    record: api.ProgressRecord


@dataclass(frozen=True)
class TrainingFinished:
    method: Method
    model: str  # the registered model the method is scored as
    reused: bool  # complete before this call: nothing was trained


@dataclass(frozen=True)
class Evaluated:
    """An event of the method's eval session (`evals.session`); `StudyFinished` sums up their ends."""

    method: Method
    event: Event


@dataclass(frozen=True)
class Exported:
    method: Method
    model: str  # the registered GGUF
    verified: str  # what its verification measured; "" when it was exported before (reused)


@dataclass(frozen=True)
class TableReady:
    comparison: Comparison
    rows: dict[Method, str]  # each method's row in the table (its eval method label)


@dataclass(frozen=True)
class StudyFinished:
    stopped: bool  # a stop request ended it: rerunning the plan continues
    failures: int  # benchmarks that failed on a model (reported as `Failed` events)


StudyEvent = (
    Note
    | TrainingStarted
    | TrainingLogged
    | TrainingProgress
    | TrainingFinished
    | Evaluated
    | Exported
    | TableReady
    | StudyFinished
)


def study_task_names(task_dir: str = "") -> list[str]:
    """The study's benchmarks, groups expanded: what the eval screen's preset selects."""
    return [t.name for t in resolve_tasks(list(STUDY_TASKS), known_tasks(task_dir))]


def run_study(
    settings: Settings, plan: StudyPlan, cancel: threading.Event | None = None, store: RunStore | None = None
) -> Iterator[StudyEvent]:
    """Train what is missing, score every method on the same items, then yield the table.
    Everything checkable (tasks, data, adapters, settings) is refused before anything runs."""
    cancel = cancel or threading.Event()
    store = store or RunStore()
    known = known_tasks(settings.task_dir)
    tasks = list({t.name: t for t in resolve_tasks(list(plan.tasks), known)}.values())
    methods = [m for m in Method if m in plan.methods]
    to_train = {m: plan.train_config(m) for m in methods if m in TRAINED and not plan.adapter(m)}
    for config in to_train.values():
        check_sources(config)
    models = {m: _given_adapter(plan.adapter(m), m) for m in methods if plan.adapter(m)}
    base = yield from _base(plan)
    models |= {Method.BASE: base, Method.RAG: base}
    keys: dict[Method, list[RunKey]] = {}
    failures = 0
    for method in methods:
        if cancel.is_set():
            yield StudyFinished(True, failures)
            return
        if method not in models:
            trained = yield from _train(method, to_train[method], cancel)
            if trained is None:
                yield StudyFinished(True, failures)
                return
            models[method] = trained
        keys[method], finished = yield from _evaluate(settings, plan, method, models[method], tasks, cancel, store)
        failures += finished.failures
        if finished.cancelled:
            yield StudyFinished(True, failures)
            return
    ids = {key.id for method_keys in keys.values() for key in method_keys}
    rows = {m: k[0].method for m, k in keys.items() if k}
    compared = comparison(
        [r for r in store.runs() if r.key.id in ids], store=store, base=rows.get(Method.BASE), known=known
    )
    yield TableReady(compared, rows)
    if plan.export:
        try:
            for method in (m for m in methods if m in TRAINED):
                yield from _export(method, models[method], plan.export, cancel)
        except Cancelled:
            yield StudyFinished(True, failures)
            return
    yield StudyFinished(False, failures)


def _absolute(value: str) -> str:
    """A local path as an absolute one (a rerun from another folder is the same plan); other
    values (a registry name, a Hub id, index:NAME) as given."""
    path = Path(value).expanduser()
    return str(path.resolve()) if value and path.exists() else value


def _given_adapter(name: str, method: Method) -> str:
    if not Registry().get(name).adapter:
        raise MedtuiError(
            f"--{method.value}-adapter {name}: that model has no adapter: give a model a `medtui train` run registered"
        )
    return name


def _base(plan: StudyPlan) -> Iterator[StudyEvent]:
    """The model the base and RAG rows are scored as: the training base, registered once."""
    model = resolve_model(plan.model)
    if model.gguf is not None:
        yield Note(f"base: {model.gguf.name} as Hugging Face weights, as training uses it (dequantized once)")
    spec = spec_from_source(f"{plan.study}-base", materialize(model, log=lambda line: None))
    registry = Registry()
    existing = next((s for s in registry.all() if s.name == spec.name), None)
    if existing is None:
        registry.add(spec)
        yield Note(f"base: registered {spec.source} as model {spec.name}")
    elif existing != spec:
        raise MedtuiError(
            f"model {spec.name!r} is {existing.describe()}, not this study's base: "
            f"`medtui models remove {spec.name}`, or pass another --name"
        )
    return spec.name


def _train(method: Method, config: api.TrainConfig, cancel: threading.Event) -> Iterator[StudyEvent]:
    """The registered model of a complete run of `config`: found, resumed or trained; None when
    a stop request ended it (its checkpoints are kept for the next call)."""
    folder = run_dir(config.name)
    existing = api.status(str(folder)).run if (folder / RUN_FILE).exists() else None
    if existing is not None and existing.status is RunStatus.COMPLETE:
        if existing.config != config:
            raise MedtuiError(
                f"run {config.name} was trained with other settings: pass another --name, or remove {folder}"
            )
        yield TrainingFinished(method, existing.name, reused=True)
        return existing.name
    yield TrainingStarted(method, config.name, resumed=existing is not None)
    stopping = False
    for event in api.start(config):
        if cancel.is_set() and not stopping:
            stopping = True
            try:
                api.stop(str(folder))  # the worker saves a checkpoint and ends as cancelled
            except MedtuiError:
                pass  # it has already ended
        if isinstance(event, api.Logged):
            yield TrainingLogged(method, event.line)
        elif isinstance(event, api.Stepped):
            yield TrainingProgress(method, event.record)
        elif isinstance(event, api.Finished):
            run = event.run
            if run.status is RunStatus.COMPLETE:
                yield TrainingFinished(method, run.name, reused=False)
                return run.name
            if run.status is RunStatus.CANCELLED:
                return None
            if run.status is RunStatus.FAILED:
                raise MedtuiError(run.info.error or f"run {run.name} failed: see {run.dir / 'train.log'}")
            raise MedtuiError(
                f"the worker of run {run.name} exited ({event.exit_code}) without finishing: "
                f"see {run.dir / 'train.log'}; rerun the study to continue it"
            )


def _evaluate(
    settings: Settings,
    plan: StudyPlan,
    method: Method,
    model: str,
    tasks: list[Task],
    cancel: threading.Event,
    store: RunStore,
) -> Iterator[StudyEvent]:
    """One method's eval session, with the settings every method shares; returns the keys of its
    complete runs and the session's end."""
    request = EvalRequest(
        [model], tasks, Mode.parse(plan.mode), method is Method.RAG, plan.limit, plan.seed, top_k=plan.top_k
    )
    keys: list[RunKey] = []
    for event in run_session(settings, request, cancel, store):
        if isinstance(event, SessionFinished):
            return keys, event
        if isinstance(event, TaskFinished) and not event.result.cancelled:
            keys.append(event.result.key)
        yield Evaluated(method, event)


def _export(method: Method, model: str, quant: str, cancel: threading.Event) -> Iterator[StudyEvent]:
    """The adapter merged into a verified GGUF, once: a GGUF already registered under the
    export's name is kept."""
    name = f"{model}-{Quant.parse(quant)}"
    if any(spec.name == name for spec in Registry().all()):
        yield Exported(method, name, verified="")
        return
    yield Note(f"{method}: exporting {model} as {name} (merge, convert, quantize, verify)")
    result = export_model(ExportRequest(model, quant, name), cancel=cancel)
    yield Exported(method, result.name, result.verification.describe())

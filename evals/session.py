"""Many models on many benchmarks: the one eval loop that `medtui eval run` and the eval
screen both render.

Models load one after another; a model that fails to load, or a benchmark that fails on a
model, is reported as an event and the session goes on with the rest, so one broken entry
never costs the others' results. A stop request ends the session after the current chunk;
what was saved resumes next time.
"""

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from evals.runner import Mode, Permute, RunResult, TaskProgress, check_orders, iter_task
from evals.scoring import R1_SAMPLING
from evals.store import RunStore
from evals.tasks import Task
from medtui.core.config import Settings
from medtui.core.engines.base import CancelToken
from medtui.core.errors import MedtuiError
from medtui.core.wiring import open_engine, open_retriever


@dataclass(frozen=True)
class EvalRequest:
    models: list[str]
    tasks: list[Task]
    mode: Mode = Mode.LOGLIK
    rag: bool = False
    limit: int | None = None
    seed: int = 0
    source: str | None = None
    top_k: int = 3
    max_tokens: int = R1_SAMPLING.max_tokens  # generate mode
    temperature: float = R1_SAMPLING.temperature  # generate mode
    permute: Permute = Permute.NONE  # loglik mode: also score the options in every cyclic order

    def __post_init__(self) -> None:
        check_orders(self.mode, self.permute)


@dataclass(frozen=True)
class ModelLoading:
    model: str
    number: int  # 1-based position among the request's models
    total: int


@dataclass(frozen=True)
class Failed:
    """A model that would not load (task None), or a benchmark that failed on a model."""

    model: str
    task: str | None
    error: str


@dataclass(frozen=True)
class TaskFinished:
    """A run ended: complete, or stopped part-way (`result.cancelled`)."""

    model: str
    task: str
    result: RunResult


@dataclass(frozen=True)
class SessionFinished:
    cancelled: bool
    failures: int


Event = ModelLoading | Failed | TaskProgress | TaskFinished | SessionFinished


def run_session(
    settings: Settings, request: EvalRequest, cancel: CancelToken | None = None, store: RunStore | None = None
) -> Iterator[Event]:
    """Run every requested model on every requested task, yielding what happens as it happens."""
    cancel = cancel or threading.Event()
    store = store or RunStore()
    mode = Mode.parse(request.mode)
    retriever = open_retriever(settings.replace(rag=True, top_k=request.top_k)) if request.rag else None
    params = dataclasses.replace(
        R1_SAMPLING, max_tokens=request.max_tokens, temperature=request.temperature, seed=request.seed
    )
    failures = 0
    for number, model in enumerate(request.models, 1):
        if cancel.is_set():
            break
        yield ModelLoading(model, number, len(request.models))
        try:
            engine = open_engine(settings, model)
        except MedtuiError as e:
            failures += 1
            yield Failed(model, None, str(e))
            continue
        try:
            for task in request.tasks:
                if cancel.is_set():
                    break
                try:
                    result = yield from iter_task(
                        engine, task, mode=mode, permute=request.permute, retriever=retriever, limit=request.limit,
                        seed=request.seed, source=request.source, top_k=request.top_k, store=store, params=params,
                        cancel=cancel,
                    )  # fmt: skip
                except MedtuiError as e:
                    failures += 1
                    yield Failed(model, task.name, str(e))
                    continue
                yield TaskFinished(model, task.name, result)
        finally:
            engine.close()
    yield SessionFinished(cancel.is_set(), failures)

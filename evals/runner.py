"""One evaluation run: pick the questions, score them in chunks, save as it goes, resume.

`iter_task` yields a `TaskProgress` after every saved chunk and returns the `RunResult`;
`evals.session` runs it for many models and tasks, and the CLI and the eval screen only render
the events. A stop request is read between chunks, and in generate mode between questions: an
answer interrupted by it is dropped, never saved, so a resumed run redoes it.

Questions are sampled with a fixed seed when --limit is given (and kept in source order), so
two models limited to N see the same N. Predictions are appended to the run's JSONL after
every chunk; rerunning the same command skips what is saved, and `run_key` puts every setting
that changes the answers into the run's id, so changing one starts a new run. With RAG the
retriever is queried once per question, with the question alone, never the options (also when
the options are shown in several orders).
"""

import dataclasses
import hashlib
import json
import random
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass

from evals.items import Item, fingerprint
from evals.scoring import (
    ANSWER_PREFIX,
    COT_INSTRUCTION,
    LOGLIK_INSTRUCTION,
    R1_SAMPLING,
    Prediction,
    messages,
    rotate,
    score_generate,
    score_loglik,
    score_loglik_cyclic,
)
from evals.store import RunKey, RunStore
from evals.tasks import Task, mcq_prompt
from medtui.core.engines import Engine, GenerationParams
from medtui.core.engines.base import CancelToken
from medtui.core.errors import MedtuiError
from medtui.core.model_fingerprint import model_fingerprint
from medtui.core.rag.retriever import Retriever
from medtui.core.records import RunStatus, Word


class Mode(Word):
    """How a question becomes an answer (evals/scoring.py)."""

    LOGLIK = "loglik"
    GENERATE = "generate"


class Permute(Word):
    """The orders the options are shown in (loglik mode): as given, or every cyclic rotation."""

    NONE = "none"
    CYCLIC = "cyclic"

    @classmethod
    def noun(cls) -> str:
        return "permutation mode"


def check_orders(mode: "str | Mode", permute: "str | Permute") -> tuple[Mode, Permute]:
    """Parsed, and refused together where they do not go together: only letter scores average over orders."""
    mode, permute = Mode.parse(mode), Permute.parse(permute)
    if permute is not Permute.NONE and mode is not Mode.LOGLIK:
        raise MedtuiError("cyclic option orders average letter scores: use them with mode loglik (--mode loglik)")
    return mode, permute


CHUNK = 16  # questions scored between saves (and between cancel checks)
Progress = Callable[[int, int, int], None]  # (done, total, correct so far)


@dataclass(frozen=True)
class TaskProgress:
    """Predictions saved so far in one run."""

    model: str
    task: str
    done: int
    total: int
    correct: int
    invalid: int = 0  # answers that named no option: shown beside the accuracy so far

    def so_far(self) -> str:
        """The progress line every front shows: a running accuracy always with its invalid rate."""
        return (
            f"{self.done}/{self.total} · accuracy so far {self.correct / self.done:.1%}, "
            f"invalid {self.invalid / self.done:.1%}"
        )


@dataclass
class RunResult:
    key: RunKey
    predictions: list[Prediction]
    cancelled: bool = False


def select(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    if limit is None or limit >= len(items):
        return items
    keep = set(random.Random(seed).sample(range(len(items)), limit))
    return [item for i, item in enumerate(items) if i in keep]


def sources_for(retriever: Retriever | None, item: Item, top_k: int) -> str:
    """The retrieved passages for one question, searched with the question alone; only those that
    pass the relevance gate, as in the chat (none: the prompt has no sources)."""
    if retriever is None:
        return ""
    hits = retriever.search(item.question, top_k)
    return "\n\n".join(f"[{i}] {h.snippet.title}\n{h.snippet.text}" for i, h in enumerate(hits, 1))


def render_prompt(engine: Engine, task: Task, item: Item, mode: Mode, sources: str = "") -> str:
    instruction = LOGLIK_INSTRUCTION if mode is Mode.LOGLIK else COT_INSTRUCTION
    prompt = engine.render_chat(messages(mcq_prompt(item, task.with_context, task.prompt), instruction, sources))
    return prompt + ANSWER_PREFIX if mode is Mode.LOGLIK else prompt


def build_prompt(
    engine: Engine, task: Task, item: Item, mode: str | Mode, retriever: Retriever | None, top_k: int
) -> str:
    """One question's whole prompt, retrieving its sources (bench/eval_speed.py times this)."""
    return render_prompt(engine, task, item, Mode.parse(mode), sources_for(retriever, item, top_k))


def sampling_label(params: GenerationParams) -> str:
    """Generate mode's sampling as the run identity records it: every knob that is not neutral."""
    neutral = GenerationParams()
    knobs = [f"{params.max_tokens} tokens", f"T={params.temperature:g}"]
    for name in ("top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty"):
        if (value := getattr(params, name)) != getattr(neutral, name):
            knobs.append(f"{name.replace('_', '-')} {value:g}")
    return ", ".join(knobs)


def index_fingerprint(retriever: Retriever) -> str:
    """Identifies the index's contents: a rebuilt or extended index gets a new one."""
    m = retriever.index.manifest()
    what = [m.name, m.embedder, m.query_embedder, m.count, m.bm25_count, m.chunk_tokens, m.chunk_overlap, m.updated]
    return hashlib.sha1(json.dumps(what).encode()).hexdigest()[:12]


def retrieval_setting(retriever: Retriever, top_k: int) -> str:
    """The retrieval settings that change which passages a question gets, as one readable field."""
    options = retriever.options
    parts = [retriever.index.name, f"k={top_k}"]
    if not (options.dense and options.bm25):
        parts.append("dense only" if options.dense else "bm25 only")
    if options.reranker:
        parts.append(f"rerank {options.reranker}")
    mode = retriever.mode()  # the search that ran (bm25 while an index's dense half builds) and its gate
    parts.append(f"{mode.value} gate {retriever.gate.rule(mode).describe()}")
    return ", ".join(parts)


def run_key(
    engine: Engine,
    task: Task,
    source: str,
    items: list[Item],
    *,
    mode: Mode,
    permute: Permute,
    retriever: Retriever | None,
    top_k: int,
    limit: int | None,
    seed: int,
    params: GenerationParams,
) -> RunKey:
    """Everything that decides the answers; a setting that does not apply (top-k without RAG,
    sampling in loglik mode) is left empty, so it neither splits runs nor changes old ids."""
    first = render_prompt(engine, task, items[0], mode) if items else ""  # without a retrieval call
    return RunKey(
        engine.spec.name,
        task.name,
        source,
        mode.value,
        retriever is not None,
        limit,
        seed,
        fingerprint(items),
        model_fingerprint(engine.spec),
        hashlib.sha1(first.encode("utf-8")).hexdigest()[:12],
        retrieval_setting(retriever, top_k) if retriever else "",
        index_fingerprint(retriever) if retriever else "",
        sampling_label(params) if mode is Mode.GENERATE else "",
        "" if permute is Permute.NONE else permute.value,
    )


def iter_task(
    engine: Engine,
    task: Task,
    *,
    mode: str | Mode = Mode.LOGLIK,
    permute: str | Permute = Permute.NONE,
    retriever: Retriever | None = None,
    limit: int | None = None,
    seed: int = 0,
    source: str | None = None,
    top_k: int = 3,
    store: RunStore | None = None,
    params: GenerationParams = R1_SAMPLING,
    cancel: CancelToken | None = None,
) -> Generator[TaskProgress, None, RunResult]:
    """Score `task` with `engine`, resuming the run these settings identify; yields progress."""
    mode, permute = check_orders(mode, permute)
    store = store or RunStore()
    source_name, items = task.load(source)
    items = select(items, limit, seed)
    params = dataclasses.replace(params, seed=seed)
    key = run_key(
        engine, task, source_name, items, mode=mode, permute=permute, retriever=retriever, top_k=top_k,
        limit=limit, seed=seed, params=params,
    )  # fmt: skip
    predictions = store.start(key, len(items))
    done = {p.item_id for p in predictions}
    todo = [item for item in items if item.id not in done]
    cancel = cancel or threading.Event()
    for start in range(0, len(todo), CHUNK):
        if cancel.is_set():
            break
        chunk = todo[start : start + CHUNK]
        passages = [sources_for(retriever, item, top_k) for item in chunk]
        if mode is Mode.GENERATE:
            prompts = [render_prompt(engine, task, item, mode, p) for item, p in zip(chunk, passages)]
            new = _generate_chunk(engine, chunk, prompts, params, cancel)
        elif permute is Permute.CYCLIC:
            orders = [
                [render_prompt(engine, task, rotate(item, s), mode, p) for s in range(len(item.choices))]
                for item, p in zip(chunk, passages)
            ]
            new = score_loglik_cyclic(engine, chunk, orders)
        else:
            new = score_loglik(
                engine, chunk, [render_prompt(engine, task, i, mode, p) for i, p in zip(chunk, passages)]
            )
        store.save(key.id, new)
        predictions += new
        store.update(key.id, predictions, RunStatus.RUNNING)
        yield TaskProgress(
            key.model,
            task.name,
            len(predictions),
            len(items),
            sum(p.correct for p in predictions),
            sum(p.predicted is None for p in predictions),
        )
    if len(predictions) < len(items):
        store.update(key.id, predictions, RunStatus.CANCELLED)
        return RunResult(key, predictions, cancelled=True)
    store.update(key.id, predictions, RunStatus.COMPLETE)
    return RunResult(key, predictions)


def _generate_chunk(
    engine: Engine, chunk: list[Item], prompts: list[str], params: GenerationParams, cancel: CancelToken
) -> list[Prediction]:
    """Generated answers for a chunk, up to a stop request; an answer it interrupted is dropped."""
    out = []
    for item, prompt in zip(chunk, prompts):
        prediction = score_generate(engine, item, prompt, params, cancel)
        if cancel.is_set():
            break
        out.append(prediction)
    if len(out) == len(chunk) and not any(p.output.strip() for p in out):
        raise MedtuiError(
            f"{engine.spec.name} generated no text for any of {len(out)} questions: generation is failing "
            f"(try `medtui ask -m {engine.spec.name}`); nothing was saved for them"
        )
    return out


def run_task(engine: Engine, task: Task, *, progress: Progress | None = None, **options) -> RunResult:
    """`iter_task` run to its end, reporting progress to a callback (scripts and tests)."""
    events = iter_task(engine, task, **options)
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if progress:
            progress(event.done, event.total, event.correct)

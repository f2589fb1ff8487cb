"""One evaluation run: pick the questions, score them in chunks, save as it goes, resume.

Questions are sampled with a fixed seed when --limit is given (and kept in source order), so
two models limited to N see the same N. Predictions are appended to the run's JSONL after
every chunk; rerunning the same command skips what is saved. With RAG the retriever is
queried with the question alone, never the options.
"""

import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from evals.items import Item, fingerprint
from evals.scoring import (
    ANSWER_PREFIX,
    COT_INSTRUCTION,
    LOGLIK_INSTRUCTION,
    R1_SAMPLING,
    Prediction,
    messages,
    score_generate,
    score_loglik,
)
from evals.store import RunKey, RunStore
from evals.tasks import Task, mcq_prompt
from medtui.core.engines import Engine, GenerationParams
from medtui.core.model_fingerprint import model_fingerprint
from medtui.core.rag.retriever import Retriever

CHUNK = 16  # questions scored between saves (and between cancel checks)
Progress = Callable[[int, int, int], None]  # (done, total, correct so far)


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


def build_prompt(engine: Engine, task: Task, item: Item, mode: str, retriever: Retriever | None, top_k: int) -> str:
    sources = ""
    if retriever is not None:
        hits = retriever.search(item.question, top_k)
        sources = "\n\n".join(f"[{i}] {h.snippet.title}\n{h.snippet.text}" for i, h in enumerate(hits, 1))
    instruction = LOGLIK_INSTRUCTION if mode == "loglik" else COT_INSTRUCTION
    prompt = engine.render_chat(messages(mcq_prompt(item, task.with_context), instruction, sources))
    return prompt + ANSWER_PREFIX if mode == "loglik" else prompt


def run_task(
    engine: Engine,
    task: Task,
    *,
    mode: str = "loglik",
    retriever: Retriever | None = None,
    limit: int | None = None,
    seed: int = 0,
    source: str | None = None,
    top_k: int = 3,
    store: RunStore | None = None,
    params: GenerationParams = R1_SAMPLING,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    store = store or RunStore()
    source_name, items = task.load(source)
    items = select(items, limit, seed)
    first = build_prompt(engine, task, items[0], mode, None, top_k) if items else ""  # without a retrieval call
    key = RunKey(
        engine.spec.name,
        task.name,
        source_name,
        mode,
        retriever is not None,
        limit,
        seed,
        fingerprint(items),
        model_fingerprint(engine.spec),
        hashlib.sha1(first.encode("utf-8")).hexdigest()[:12],
    )
    predictions = store.start(key, len(items))
    done = {p.item_id for p in predictions}
    todo = [item for item in items if item.id not in done]
    cancel = cancel or threading.Event()
    params = GenerationParams(params.max_tokens, params.temperature, seed)
    for start in range(0, len(todo), CHUNK):
        if cancel.is_set():
            store.update(key.id, predictions, "cancelled")
            return RunResult(key, predictions, cancelled=True)
        chunk = todo[start : start + CHUNK]
        prompts = [build_prompt(engine, task, item, mode, retriever, top_k) for item in chunk]
        if mode == "loglik":
            new = score_loglik(engine, chunk, prompts)
        else:
            new = [score_generate(engine, item, prompt, params, cancel) for item, prompt in zip(chunk, prompts)]
        store.save(key.id, new)
        predictions += new
        store.update(key.id, predictions, "running")
        if progress:
            progress(len(predictions), len(items), sum(p.correct for p in predictions))
    store.update(key.id, predictions, "complete")
    return RunResult(key, predictions)

"""Free-text metrics on question-answer pairs: perplexity of the reference answer, and BLEU
and ROUGE-1/2/L of generated answers against it (sacrebleu and rouge-score, not hand-written).

Perplexity needs no generation (one forward per pair), so it is the cheap, deterministic
signal for comparing adapters on a domain; BLEU/ROUGE need answers generated greedily.
"""

import math
import random
import threading
from dataclasses import dataclass
from pathlib import Path

from medtui.core.datasource import iter_rows
from medtui.core.engines import Engine, GenerationParams
from medtui.core.errors import MedtuiError
from medtui.core.registry import is_hub_id

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = {  # name -> (file, question field, answer field)
    "medicationqa": (SHARED / "medicationqa" / "medicationqa.jsonl", "question", "answer"),
    "medquad": (SHARED / "medquad" / "medquad_answered.jsonl.gz", "question", "answer"),
}
SYSTEM = "You are a careful medical assistant. Answer the question concisely."


@dataclass(frozen=True)
class Pair:
    question: str
    answer: str


@dataclass(frozen=True)
class TextScores:
    n: int
    perplexity: float
    bleu: float | None = None
    rouge1: float | None = None
    rouge2: float | None = None
    rougeL: float | None = None


def load_pairs(name_or_path: str, limit: int | None = None, seed: int = 0) -> list[Pair]:
    """A known dataset name, or any table `medtui.core.datasource` reads (a JSONL, JSON, CSV or
    parquet file, a saved dataset, a Hub id) with question and answer fields; rows missing either
    are left out."""
    source, q_field, a_field = DATASETS.get(name_or_path, (name_or_path, "question", "answer"))
    if not Path(source).exists() and not is_hub_id(str(source)):
        raise MedtuiError(
            f"{source} not found: give medicationqa, medquad, or a JSONL, JSON, CSV or parquet file with "
            "question and answer fields"
        )
    pairs = []
    for _, row in iter_rows(source):
        q, a = row.get(q_field), row.get(a_field)
        if isinstance(q, str) and isinstance(a, str) and q.strip() and a.strip():
            pairs.append(Pair(q.strip(), a.strip()))
    if not pairs:
        raise MedtuiError(
            f"{source}: no rows with both a {q_field!r} and an {a_field!r} field: give question/answer pairs"
        )
    if limit is not None and limit < len(pairs):
        keep = set(random.Random(seed).sample(range(len(pairs)), limit))
        pairs = [p for i, p in enumerate(pairs) if i in keep]
    return pairs


def answer_prompt(engine: Engine, question: str) -> str:
    return engine.render_chat([{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])


def perplexity(engine: Engine, pairs: list[Pair], max_answer_tokens: int = 256) -> float:
    """exp(mean negative log-likelihood per reference-answer token), answers cut at a token budget."""
    total_nll = 0.0
    total_tokens = 0
    for pair in pairs:
        prompt = answer_prompt(engine, pair.question)
        base = len(engine.tokenize(prompt))
        answer = pair.answer
        while len(engine.tokenize(prompt + answer)) - base > max_answer_tokens:
            answer = answer[: int(len(answer) * 0.8)]
        total_nll -= engine.continuation_logprob(prompt, answer)
        total_tokens += len(engine.tokenize(prompt + answer)) - base
    return math.exp(total_nll / total_tokens)


def overlap_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    import sacrebleu
    from rouge_score import rouge_scorer

    bleu = sacrebleu.corpus_bleu(predictions, [references]).score
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    sums = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for pred, ref in zip(predictions, references):
        for key, score in scorer.score(ref, pred).items():
            sums[key] += score.fmeasure
    return {"bleu": bleu, **{k: 100 * v / len(predictions) for k, v in sums.items()}}


def score_text(engine: Engine, pairs: list[Pair], generate: bool = True, max_tokens: int = 128) -> TextScores:
    ppl = perplexity(engine, pairs)
    if not generate:
        return TextScores(len(pairs), ppl)
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=0)
    outputs = ["".join(engine.stream(answer_prompt(engine, p.question), params, threading.Event())) for p in pairs]
    overlap = overlap_scores(outputs, [p.answer for p in pairs])
    return TextScores(len(pairs), ppl, overlap["bleu"], overlap["rouge1"], overlap["rouge2"], overlap["rougeL"])

"""Turning a model into an answer per question, two ways.

- loglik: the prompt ends with "Answer:" and the choice is the letter with the highest
  next-token log-probability. One forward pass per question, batched: fast and never invalid.
  With cyclic permutations each question is also asked with its options rotated (n orders for
  n options, so every option sits at every letter once), each order's letter probabilities are
  mapped back to the original options and averaged, and the best average is the answer: as
  every option sits at the preferred letter exactly once, a letter preference adds the same to
  every option and cancels, leaving what the model knows (the permutation debiasing of Zheng et
  al., "Large Language Models Are Not Robust Multiple Choice Selectors", ICLR 2024).
- generate: chain of thought with the model's chat template and R1-style sampling; the
  answer is read only after `</think>`, from the last explicit answer statement
  (evals/extract.py), and an unreadable answer is counted as invalid.
"""

import math
import threading
from dataclasses import dataclass, replace

from evals.extract import extract_choice
from evals.items import LETTERS, Item
from medtui.core.engines import Engine, GenerationParams
from medtui.core.errors import MedtuiError

SYSTEM = "You are a medical expert answering exam questions."
LOGLIK_INSTRUCTION = "Answer with the letter of the correct option."
COT_INSTRUCTION = (
    "Think step by step, then end with a line of the form 'Answer: X', where X is the letter of the correct option."
)
ANSWER_PREFIX = "Answer:"
# DeepSeek-R1's recommended sampling (temperature 0.6, top-p 0.95); no repeat penalty, which would
# change what a benchmark measures.
R1_SAMPLING = GenerationParams(max_tokens=2048, temperature=0.6, seed=0, top_p=0.95)


@dataclass(frozen=True)
class Prediction:
    item_id: str
    subject: str
    answer: int
    predicted: int | None  # None: invalid (unparseable) answer
    output: str = ""  # generated text, or the letter log-probabilities in loglik mode

    @property
    def correct(self) -> bool:
        return self.predicted == self.answer


def messages(question_block: str, instruction: str, sources: str = "") -> list[dict[str, str]]:
    context = f"Sources:\n{sources}\n\n" if sources else ""
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{context}{question_block}\n\n{instruction}"},
    ]


def letter_token_ids(engine: Engine, prompt: str, n: int) -> list[int]:
    """The token each letter is after "Answer:"; letters must be single tokens to be scored this way."""
    base = engine.tokenize(prompt)
    ids = []
    for letter in LETTERS[:n]:
        extra = engine.tokenize(prompt + " " + letter)[len(base) :]
        if len(extra) != 1:
            raise MedtuiError(
                f"{engine.spec.name}: ' {letter}' is {len(extra)} tokens after 'Answer:': use --mode generate"
            )
        ids.append(extra[0])
    return ids


def rotate(item: Item, shift: int) -> Item:
    """The item with its options rotated: letter j shows original option (j + shift) mod n."""
    n = len(item.choices)
    choices = tuple(item.choices[(j + shift) % n] for j in range(n))
    return replace(item, choices=choices, answer=(item.answer - shift) % n)


def letter_logprobs(engine: Engine, items: list[Item], prompts: list[str]) -> list[list[float]]:
    """Each prompt's letter log-probabilities (prompts end with ANSWER_PREFIX); prompts whose items
    have the same number of options share letter ids and one batched call."""
    ids_by_n: dict[int, list[int]] = {}
    for item, prompt in zip(items, prompts):
        n = len(item.choices)
        if n not in ids_by_n:
            ids_by_n[n] = letter_token_ids(engine, prompt, n)
    rows: list[list[float]] = [[] for _ in prompts]
    for n, ids in ids_by_n.items():
        where = [i for i, item in enumerate(items) if len(item.choices) == n]
        for i, row in zip(where, engine.next_token_logprobs([prompts[i] for i in where], ids)):
            rows[i] = row
    return rows


def score_loglik(engine: Engine, items: list[Item], prompts: list[str]) -> list[Prediction]:
    """The letter with the highest log-probability, per item; the output keeps every letter's."""
    out = []
    for item, row in zip(items, letter_logprobs(engine, items, prompts)):
        best = max(range(len(row)), key=lambda i: row[i])
        scores = " ".join(f"{LETTERS[i]}:{v:.3f}" for i, v in enumerate(row))
        out.append(Prediction(item.id, item.subject, item.answer, best, scores))
    return out


def score_loglik_cyclic(engine: Engine, items: list[Item], prompts: list[list[str]]) -> list[Prediction]:
    """`prompts[i][s]` shows `rotate(items[i], s)`; the answer is the original option with the
    highest letter probability averaged over the orders (each order's letters renormalized)."""
    shown = [rotate(item, s) for item in items for s in range(len(item.choices))]
    rows = iter(letter_logprobs(engine, shown, [p for orders in prompts for p in orders]))
    out = []
    for item in items:
        n = len(item.choices)
        mean = [0.0] * n
        for shift in range(n):
            row = next(rows)
            top = max(row)
            total = sum(math.exp(v - top) for v in row)
            for j, v in enumerate(row):  # letter j showed original option (j + shift) % n
                mean[(j + shift) % n] += math.exp(v - top) / total / n
        best = max(range(n), key=lambda i: mean[i])
        scores = "mean p over cyclic orders " + " ".join(f"{LETTERS[i]}:{v:.3f}" for i, v in enumerate(mean))
        out.append(Prediction(item.id, item.subject, item.answer, best, scores))
    return out


def score_generate(
    engine: Engine, item: Item, prompt: str, params: GenerationParams, cancel: threading.Event
) -> Prediction:
    text = "".join(engine.stream(prompt, params, cancel))
    return Prediction(item.id, item.subject, item.answer, extract_choice(text, item.choices), text)

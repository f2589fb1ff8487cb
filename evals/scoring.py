"""Turning a model into an answer per question, two ways.

- loglik: the prompt ends with "Answer:" and the choice is the letter with the highest
  next-token log-probability. One forward pass per question, batched: fast and never invalid.
- generate: chain of thought with the model's chat template and R1-style sampling; the
  letter is read only after `</think>` from the "Answer: X" line (evals/extract.py), and
  an unreadable answer is counted as invalid.
"""

import threading
from dataclasses import dataclass

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
R1_SAMPLING = GenerationParams(max_tokens=2048, temperature=0.6, seed=0)  # DeepSeek-R1's recommended temperature


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


def score_loglik(engine: Engine, items: list[Item], prompts: list[str]) -> list[Prediction]:
    """Prompts already end with ANSWER_PREFIX; items with the same choice count share letter ids."""
    out = []
    ids_by_n: dict[int, list[int]] = {}
    for item, prompt in zip(items, prompts):
        n = len(item.choices)
        if n not in ids_by_n:
            ids_by_n[n] = letter_token_ids(engine, prompt, n)
    for n, ids in ids_by_n.items():
        batch = [(item, prompt) for item, prompt in zip(items, prompts) if len(item.choices) == n]
        scores = engine.next_token_logprobs([p for _, p in batch], ids)
        for (item, _), row in zip(batch, scores):
            best = max(range(n), key=lambda i: row[i])
            out.append(
                Prediction(
                    item.id,
                    item.subject,
                    item.answer,
                    best,
                    " ".join(f"{LETTERS[i]}:{v:.3f}" for i, v in enumerate(row)),
                )
            )
    order = {item.id: i for i, item in enumerate(items)}
    return sorted(out, key=lambda p: order[p.item_id])


def score_generate(
    engine: Engine, item: Item, prompt: str, params: GenerationParams, cancel: threading.Event
) -> Prediction:
    text = "".join(engine.stream(prompt, params, cancel))
    return Prediction(item.id, item.subject, item.answer, extract_choice(text, item.choices), text)

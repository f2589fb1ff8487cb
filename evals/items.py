"""One benchmark question, in the same shape whichever source it came from."""

import hashlib
from dataclasses import dataclass

LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class Item:
    id: str  # stable: from the source's id, else a hash of the question and choices
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    subject: str = ""
    context: str = ""  # e.g. PubMedQA's abstract

    @property
    def answer_letter(self) -> str:
        return LETTERS[self.answer]


def item_id(question: str, choices: list[str] | tuple[str, ...]) -> str:
    text = "\n".join([" ".join(question.split()), *(" ".join(c.split()) for c in choices)]).lower()
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def fingerprint(items: list[Item]) -> str:
    """Identifies the exact questions and answer key a run used, whichever source gave them."""
    digest = hashlib.sha1()
    for item in sorted(items, key=lambda i: i.id):
        digest.update(f"{item.id}:{item.answer}\n".encode())
    return digest.hexdigest()[:12]

"""The one `medtui ask --json` schema (README, docs/grounding.md §7): built here and nowhere else."""

from medtui.core.reasoning import split_reasoning
from medtui.core.records import MessageStatus

DISCLAIMER = "Not medical advice: answers can be wrong. Check the sources; ask a clinician."  # one line at 80 columns
KEYS = (
    "question",
    "model",
    "answer",
    "reasoning",
    "status",
    "grounded",
    "notices",
    "disclaimer",
    "sources",
    "sentences",
)
STATUS_WORDS = {MessageStatus.CANCELLED: "stopped"}  # the word scripts see, where it differs from the history's


def source_entry(record: dict) -> dict:
    """A source as the schema gives it, from the history's record of it (chat.service.source_records)."""
    return {
        k: record.get(k, "" if k != "scores" else {})
        for k in ("n", "id", "title", "source", "reference", "text", "scores")
    }


def sentence_entry(record: dict) -> dict:
    """A sentence as the schema gives it, from its attribution record (Sentence.to_dict)."""
    support = record["support"]
    return {
        "text": record["text"],
        "sources": record["sources"],
        "support": None if support is None else round(support, 4),
        "flags": record["flags"],
    }


def answer_record(
    question: str,
    model: str,
    text: str,
    status: MessageStatus,
    grounded: bool,
    notices: list[str],
    sources: list[dict],
    sentences: list[dict],
) -> dict:
    split = split_reasoning(text)
    return {
        "question": question,
        "model": model,
        "answer": split.answer,
        "reasoning": split.reasoning,
        "status": STATUS_WORDS.get(status, status.value),
        "grounded": grounded,
        "notices": list(notices),
        "disclaimer": DISCLAIMER,
        "sources": [source_entry(r) for r in sources],
        "sentences": [sentence_entry(d) for d in sentences],
    }

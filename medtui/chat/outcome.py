"""How an answer ended, as the history stores it and the fronts label it (docs/grounding.md §6)."""

import re

from medtui.core.engines.base import Finish
from medtui.core.reasoning import split_reasoning
from medtui.core.records import MessageStatus

MIN_WORDS = 2  # fewer words than this is no answer
LEAD_IN_WORDS = 12  # "The answer to this question is:" and nothing after it
_LEAD_IN = re.compile(r"[:\-–—]\s*$")

LABELS = {  # what the TUI shows under an answer, and `ask` prints on stderr
    MessageStatus.CUT: "cut at the token limit",
    MessageStatus.CANCELLED: "stopped",
    MessageStatus.ERROR: "failed",
    MessageStatus.EMPTY: "no answer: the model wrote nothing usable",
    MessageStatus.REFUSED: "not answered: no source covers this question (require_sources is on)",
}
UNGROUNDED = "not grounded in your sources"


def is_empty_answer(text: str) -> bool:
    """No answer text: under two words, or a short lead-in that ends in a colon or dash."""
    answer = split_reasoning(text).answer.strip()
    words = re.findall(r"\w+", answer)
    return len(words) < MIN_WORDS or (len(words) <= LEAD_IN_WORDS and bool(_LEAD_IN.search(answer)))


def answer_status(text: str, finish: Finish) -> MessageStatus:
    """A stop is the user's; the token limit is a cut whatever came before it; otherwise complete
    unless there is no answer in it."""
    if finish is Finish.CANCELLED:
        return MessageStatus.CANCELLED
    if finish is Finish.LENGTH:
        return MessageStatus.CUT
    return MessageStatus.EMPTY if is_empty_answer(text) else MessageStatus.COMPLETE


def status_notice(status: MessageStatus, max_tokens: int) -> str | None:
    """What to tell the user about an answer that did not end well, with what to do."""
    if status is MessageStatus.CUT:
        return f"cut at the token limit ({max_tokens} tokens): raise max_tokens for a longer answer"
    if status is MessageStatus.EMPTY:
        return "the model gave no answer: ask again in other words, or use a larger model"
    return None

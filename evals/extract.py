"""Take the chosen letter out of a model's free-text answer, or say it cannot.

Only the text after the reasoning counts: everything up to the last `</think>` is dropped
(also when the opening tag is missing, as R1-style chat templates often put it in the
prompt); reasoning that was cut off before `</think>` has no answer. Then, in order: an explicit "Answer: X" line (the one the prompt asks for), a
closing phrase like "the answer is X" or "(X)", a reply that is just the letter, and finally
the text of exactly one choice. Anything else is invalid, counted, never guessed.
"""

import re

THINK_END = "</think>"


def _final(text: str) -> str:
    if THINK_END in text:
        return text.rsplit(THINK_END, 1)[1]
    return "" if "<think>" in text else text  # reasoning that never ended has no answer


def extract_choice(text: str, choices: list[str] | tuple[str, ...]) -> int | None:
    """Index of the chosen option, or None when the answer cannot be read."""
    letters = "ABCDEFGHIJ"[: len(choices)]
    final = _final(text).strip()
    if not final:
        return None
    klass = f"[{letters}{letters.lower()}]"
    patterns = [
        rf"(?im)^\W*(?:final\s+)?answer\s*(?:is)?\s*[:：]\s*\**\s*\(?({klass})\b",  # "Answer: C", "**Answer:** (c)"
        rf"(?i)\b(?:the\s+)?(?:correct\s+|final\s+|best\s+)?(?:answer|option|choice)\s+is\s*[:\-]?\s*\**\(?({klass})\)?(?![\w'])",
        rf"^\W*\(?({klass})\)?\s*(?:[.:)\-]|$)",  # "C", "C.", "(C)", "C) ..."
    ]
    for pattern in patterns:
        found = re.findall(pattern, final)
        if found:
            return letters.index(found[-1].upper())  # the last one: a model may restate before concluding
    lowered = " ".join(final.lower().split())
    named = [i for i, c in enumerate(choices) if c and " ".join(c.lower().split()).strip(" .") in lowered]
    return named[0] if len(named) == 1 else None

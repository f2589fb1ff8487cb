"""Separate `<think>` reasoning from the answer, also mid-stream and without an opening tag.

R1-distilled chat templates put `<think>` in the prompt, so the model's output starts
inside the reasoning and only the closing tag appears.
"""

from dataclasses import dataclass

OPEN, CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class Split:
    reasoning: str
    answer: str
    thinking: bool  # still inside the reasoning (no closing tag yet)


def split_reasoning(text: str) -> Split:
    stripped = text.lstrip()
    if CLOSE in text:
        before, after = text.split(CLOSE, 1)
        before = before.lstrip()
        if before.startswith(OPEN):
            before = before[len(OPEN) :]
        return Split(before.strip(), after.strip(), False)
    if stripped.startswith(OPEN):
        return Split(stripped[len(OPEN) :].strip(), "", True)
    if stripped and OPEN.startswith(stripped):  # a tag still arriving token by token
        return Split("", "", True)
    return Split("", text.strip(), False)

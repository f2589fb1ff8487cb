"""Splitting <think> reasoning from answers, as R1-style and plain models produce them."""

import pytest

from medtui.core.reasoning import split_reasoning

CASES = [
    (
        "<think>Check the kidney.</think>Nephritis is kidney inflammation.",
        "Check the kidney.",
        "Nephritis is kidney inflammation.",
        False,
    ),
    # R1-distilled templates open the tag in the prompt: only the closing tag is generated
    ("The glomerulus is involved.\n</think>\n\nAnswer: B", "The glomerulus is involved.", "Answer: B", False),
    ("<think>still reasoning about A versus C", "still reasoning about A versus C", "", True),
    ("  <thi", "", "", True),
    ("Plain answer without reasoning.", "", "Plain answer without reasoning.", False),
    ("<think></think>Empty reasoning.", "", "Empty reasoning.", False),
    ("", "", "", False),
]


@pytest.mark.parametrize(("text", "reasoning", "answer", "thinking"), CASES)
def test_split(text, reasoning, answer, thinking):
    split = split_reasoning(text)
    assert (split.reasoning, split.answer, split.thinking) == (reasoning, answer, thinking)

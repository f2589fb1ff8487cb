"""Take the chosen option out of a model's free-text answer, or say it cannot.

Only the text after the reasoning counts: everything up to the last `</think>` is dropped
(also when the opening tag is missing, as R1-style chat templates often put it in the
prompt); reasoning that was cut off before `</think>` has no answer. Then, in order:

1. the *last* explicit answer statement, because models restate and correct themselves
   ("Answer: A … Actually the answer is B" is B): "Answer: X" / "Answer - X" / "Final answer:
   I think X", "the answer/option/choice is X", "I would choose X", "X is the correct answer",
   `\\boxed{X}` and MedRAG's JSON `{"answer_choice": "X"}`, where X is a letter or the text of
   an option ("Answer: yes");
2. a line that is nothing but a letter (`**B**`, `Option B`, `(C)`), else a reply that opens
   with one ("B. Heparin") and is not the options echoed one per line;
3. the text of exactly one option, as whole words.

A letter must stand alone: an uppercase one not followed by a letter, a lowercase one only
before punctuation or the end ("The answer is a drug that…" names no option), and option text
is matched on word boundaries ("no" is not in "not", "know" or "cannot"). Anything else is
invalid, counted, never guessed.
"""

import re

from evals.items import LETTERS
from medtui.core.reasoning import CLOSE, OPEN

_STATEMENTS = re.compile(
    r"""(?ix)
    \banswer(?:\s+choice)?\s*(?:is\s*)?\**\s*[:：\-–—=]             # Answer: X, Answer - X, **Answer:** X
    | \b(?:answer|option|choice)\s+(?:(?:is|would\s+be|should\s+be|will\s+be)\b\s*[:\-]?)  # the answer is X
    | \bI(?:\s+would|\s+will|'d|'ll)?\s+(?:choose|pick|select|go\s+with|opt\s+for)\b  # I would choose X
    | \\boxed\s*\{\s*(?:\\(?:text|mathrm|textbf)\s*\{)?             # \boxed{X}, \boxed{\text{X}}
    | "answer(?:_choice)?"\s*:\s*"                                  # {"answer_choice": "X"}
    """
)
_FILLER = re.compile(
    r"(?i)(?:[\s*_\"'`\[($]|\b(?:i\s+think|i\s+believe|probably|most\s+likely|likely|it\s+is|it's|"
    r"the\s+correct\s+one\s+is|option|choice|letter)\b)*"
)
_LOWER_END = re.compile(r"\s*(?:$|[.,;:!?)\]}*\"'])")
_CORRECT = re.compile(  # "C is the correct answer", "Option D is correct"; not "Vitamin A is the best…"
    r"(?m)(?:^|[,.;:(]\s*|\b(?i:option|choice|letter)\s+)\(?([A-J])\)?\s+is\s+(?i:the\s+)?"
    r"(?i:correct|right|best\s+(?:answer|option|choice))\b"
)
_LETTER_LINE = re.compile(r"(?m)^[\s*_#>]*(?:(?i:option|choice)\s+)?[*_]*[(\[]?([A-J])[)\]]?[*_]*\s*[.:]?[*_]*\s*$")
_LEADING_LETTER = re.compile(r"^[\s*_]*[(\[]?([A-J])[)\]]?[*_]*\s*(?:[.:)\-]|$)")
_LISTED = re.compile(r"(?m)^[\s*_]*[(\[]?([A-J])[.)\]]\s")  # lines that open like an option: "B. …", "C) …"


def _final(text: str) -> str:
    if CLOSE in text:
        return text.rsplit(CLOSE, 1)[1]
    return "" if OPEN in text else text  # reasoning that never ended has no answer


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .")


def _named(text: str, choice: str) -> re.Match | None:
    """Where the option's text appears as whole words (case and spacing ignored)."""
    words = _norm(choice)
    return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text) if words else None


def _stated(final: str, start: int, choices: tuple[str, ...]) -> int | None:
    """The option named right after an answer statement's lead-in, or None."""
    pos = _FILLER.match(final, start).end()
    letters = LETTERS[: len(choices)]
    char = final[pos : pos + 1]
    if char and char.upper() in letters:
        after = final[pos + 1 :]
        if char.isupper() and not re.match(r"[\w']", after[:1]):
            return letters.index(char)
        if char.islower() and (final[pos - 1 : pos] == "(" or _LOWER_END.match(after)):
            return letters.index(char.upper())
    rest = " ".join(final[pos:].lower().split())
    starts = [(len(_norm(c)), i) for i, c in enumerate(choices) if (m := _named(rest, c)) and m.start() == 0]
    return max(starts)[1] if starts else None  # the longest: "both" must not win over "both a and b"


def extract_choice(text: str, choices: list[str] | tuple[str, ...]) -> int | None:
    """Index of the chosen option, or None when the answer cannot be read."""
    choices = tuple(choices)
    letters = LETTERS[: len(choices)]
    final = _final(text).strip()
    if not final:
        return None
    stated = [(m.start(), _stated(final, m.end(), choices)) for m in _STATEMENTS.finditer(final)]
    stated += [(m.start(), letters.find(m.group(1))) for m in _CORRECT.finditer(final)]
    stated = sorted((at, i) for at, i in stated if i is not None and i >= 0)
    if stated:
        return stated[-1][1]
    alone = [letters.find(m.group(1)) for m in _LETTER_LINE.finditer(final)]
    if alone and alone[-1] >= 0:
        return alone[-1]
    leading = _LEADING_LETTER.match(final)
    if leading and leading.group(1) in letters and len(set(_LISTED.findall(final))) < 2:  # not the options echoed
        return letters.index(leading.group(1))
    lowered = " ".join(final.lower().split())
    named = [i for i, c in enumerate(choices) if _named(lowered, c)]
    return named[0] if len(named) == 1 else None

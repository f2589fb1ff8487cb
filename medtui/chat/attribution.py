"""Attribution of a finished answer, and the answer rewritten with it (docs/grounding.md §8).

Runs after the last token (a worker in the TUI, after streaming in `ask`), never during it.
The rewritten answer carries the checked citations in place of the model's own and marks what
no source supports, in the forms each front shows: plain text (`ask`), Markdown (the export)
and Markdown with citation links (the TUI).
"""

from collections.abc import Callable
from functools import partial

from medtui.core.rag.attribution import (
    UNSUPPORTED,
    CrossCheck,
    Rarity,
    Sentence,
    attribute,
    attribution_rule,
    attribution_vetoes,
    cross_encoder_rule,
)
from medtui.core.rag.embedder import DEFAULT_EMBEDDER, embed
from medtui.core.rag.reranker import reranker_problem, score_pairs
from medtui.core.reasoning import split_reasoning

UNSUPPORTED_MARK = f"[{UNSUPPORTED}]"


def attribute_answer(
    text: str,
    sources: list[dict],
    embedder: str = DEFAULT_EMBEDDER,
    rarity: Rarity | None = None,
    reranker: str = "",
) -> list[Sentence]:
    """The sentences of an answer's text (reasoning left out) with their support among `sources`
    (the history's source records, numbered as in the prompt). `rarity` is the index's word
    counts, for the key-term check (`SnippetIndex.document_share`). A configured `reranker` is
    used only under a rule calibrated for it (else `attribution_notices` says so)."""
    rule, _ = attribution_rule(embedder)
    cross = None
    calibrated, _ = cross_encoder_rule(reranker, embedder) if reranker else (None, "")
    if calibrated is not None:
        cross, rule = CrossCheck(partial(score_pairs, reranker), calibrated.select), calibrated.rule
    answer = split_reasoning(text).answer
    passages = [s["text"] for s in sorted(sources, key=lambda s: s["n"])]  # numbered 1..k, as source_records makes them
    return attribute(answer, passages, lambda texts: embed(texts, embedder), rule, attribution_vetoes(rarity), cross)


def attribution_notices(reranker: str, embedder: str = DEFAULT_EMBEDDER) -> list[str]:
    """One line when a configured reranker is not used by attribution, saying how to calibrate it."""
    if not reranker:
        return []
    if problem := reranker_problem(reranker):
        return [problem]
    rule, why = cross_encoder_rule(reranker, embedder)
    if rule is not None:
        return []
    return [
        f"attribution does not use reranker {reranker}: {why} (run bench/attribution.py --cross-encoder "
        f"{reranker} --write on a machine that has it)"
    ]


Cite = Callable[[int, int], str]  # (sentence index, source n) -> how a citation is written
Mark = Callable[[str], str]  # a sentence's flags, joined -> how they are written after it


def _plain_cite(_: int, n: int) -> str:
    return f"[{n}]"


def _plain_mark(flags: str) -> str:
    return f"[{flags}]"


def rewrite(answer: str, sentences: list[Sentence], cite: Cite = _plain_cite, mark: Mark = _plain_mark) -> str:
    """`answer` (the text after reasoning) with each sentence's citations replaced by the checked
    ones and its flags (not in sources, a citation that does not support it or does not exist)
    marked after it; everything between sentences kept."""
    out, cursor = [], 0
    for i, s in enumerate(sentences):
        out.append(answer[cursor : s.start])
        citations = "".join(cite(i, n) for n in s.sources)
        body, tail = (s.text[:-1], s.text[-1]) if s.text and s.text[-1] in ".!?:;" else (s.text, "")
        flags = f" {mark('; '.join(s.flags))}" if s.flags else ""
        out.append(body + (" " + citations if citations else "") + tail + flags)
        cursor = s.end
    out.append(answer[cursor:])
    return "".join(out)


def markdown_answer(answer: str, sentences: list[Sentence]) -> str:
    """For the Markdown export: citations as [n], a sentence's flags in italics after it."""
    return rewrite(answer, sentences, mark=lambda flags: f"_[{flags}]_")


def support_notices(sentences: list[Sentence], mark: str = UNSUPPORTED_MARK) -> list[str]:
    """What the marks in an answer add up to, one line each: unsupported sentences, wrong citations.
    `mark` is how the front showing them writes the unsupported flag."""
    checked = [s for s in sentences if s.checked]
    notices = []
    unsupported = sum(s.unsupported for s in checked)
    if unsupported:
        subject, one = _subject(unsupported, len(checked))
        notices.append(f"{subject} {'is' if one else 'are'} supported by no source: marked {mark}")
    miscited = sum(any(n not in s.sources for n in s.cited) or bool(s.removed) for s in sentences)
    if miscited:
        subject, one = _subject(miscited, len(sentences))
        notices.append(
            f"{subject} {'cites' if one else 'cite'} a source that does not support {'it' if one else 'them'} "
            "or is missing: marked"
        )
    return notices


def _subject(part: int, whole: int) -> tuple[str, bool]:
    """A notice's subject and whether its verb is singular: "2 of 3 sentences", "1 of 3 sentences"
    (singular), "its one sentence" (singular)."""
    if whole == 1:
        return "its one sentence", True
    return f"{part} of {whole} sentences", part == 1

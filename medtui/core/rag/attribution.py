"""Which source supports each sentence of an answer (docs/grounding.md §8).

A small model does not cite reliably, so citations are not taken from it: after the answer is
complete, each sentence is compared with every sentence (and pair of adjacent sentences) of each
passage in the prompt. A passage supports a sentence when the best such window passes a rule on
two scores: the dense cosine of the two texts and the share of the sentence's content words the
window has (`lexical`). Whatever its score, a window never supports a sentence (`admissible`)
when it lacks a number the sentence states ("180 mmHg" is not supported by a passage that says
130), lacks one of the sentence's key terms (a content word that few documents of the index hold,
or none: a drug, a gene, an invented name), or when one of the two is negated and the other is
not ("is not recommended" against "is recommended"). Rules are
fitted on labelled data by `bench/attribution.py --write` into `attribution_calibration.json`,
per embedder; an embedder without a calibration gets the lexical rule (it does not depend on
the embedder). Where a cross-encoder is configured and calibrated (`bench/attribution.py
--cross-encoder NAME --write`), its score of the sentence read with the window (`cross`) is a
third feature (`CrossCheck`).

Citations the model wrote are read, checked and replaced: one to a passage that does not support
the sentence is flagged, one to a number no source has is removed and flagged. Sentences too
short to claim anything ("Sure!", "Answer:") and lead-ins ending in ':' are not checked.
"""

import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medtui.core.errors import MedtuiError
from medtui.core.rag.bm25 import content_words
from medtui.core.rag.gate import Rule

CALIBRATION = Path(__file__).with_name("attribution_calibration.json")
FEATURES = ("dense", "lexical")
CROSS = "cross"  # a cross-encoder's score of the sentence read with the window (rules calibrated for one)
CROSS_WINDOWS = 2  # windows per (sentence, passage) the cross-encoder reads: the embedder rule's best
MIN_CONTENT_WORDS = 3  # fewer: not a claim a source could support ("Sure!", "The answer is:")
MAX_SOURCES = 3  # supporting sources cited per sentence, best first

UNSUPPORTED = "not in sources"  # the flag of a sentence no passage supports

Embed = Callable[[list[str]], list[list[float]]]  # normalised vectors, one per text
# Each content word's share of the corpus's documents that hold it (0: none does).
Rarity = Callable[[list[str]], list[float]]
Cross = Callable[[list[tuple[str, str]]], list[float]]  # a cross-encoder's score of each (sentence, window) pair
VETOES = ("numbers", "terms", "negation")  # features that are 1 when the window may support the sentence

_ABBREVIATIONS = frozenset(
    ("e.g", "i.e", "etc", "vs", "approx", "dr", "mr", "mrs", "ms", "prof", "fig", "st", "al", "ca", "cf")
    + ("resp", "incl", "max", "min", "mg", "ml", "kg", "mcg")
)
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?:\s*\[[\d\s,–—-]+\])*(?=\s+|$)")  # a sentence end and the citations after it
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|#+)\s+")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_ANSWER_WORDS = frozenset({"yes"})
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|without|cannot|\w+n't)\b", re.IGNORECASE)
_CITATION = re.compile(r"\[(\d+(?:\s*(?:[,;]|[–—-])\s*\d+)*)\](?:\s*[–—-]\s*\[(\d+)\])?")


@dataclass(frozen=True)
class Vetoes:
    """The checks a window must pass besides the rule's score. Key terms need the corpus's word
    counts (`rarity`, from the index's BM25); without them only numbers and negation are checked."""

    rarity: Rarity | None = None
    rare_share: float = 0.0  # a word held by at most this share of the corpus's documents is a key term
    negation: bool = True


@dataclass(frozen=True)
class CrossCheck:
    """A cross-encoder reading sentences with windows. It judges a pair better than cosine and
    word overlap but costs a forward pass per pair, and an answer has hundreds of (sentence,
    window) pairs: so it reads only the `CROSS_WINDOWS` windows per (sentence, passage) that pass
    the vetoes and that `select` (an embedder rule: `CrossRule.select`) scores highest, all in one batch."""

    score: Cross
    select: Rule


@dataclass(frozen=True)
class CrossRule:
    """What is calibrated for one cross-encoder: `rule`, over dense, lexical and cross, and `select`,
    the rule that picked the windows the cross-encoder read when `rule` was fitted (so the chat
    picks the same ones, whatever the embedder's rule has become since)."""

    rule: Rule
    select: Rule

    def to_dict(self, embedder: str, source: str) -> dict:
        """Its entry in the calibration file's `cross_encoders`."""
        return self.rule.to_dict() | {"select": self.select.to_dict(), "embedder": embedder, "source": source}


@dataclass(frozen=True)
class Sentence:
    """One sentence of an answer and what supports it. `start`/`end` locate it in the answer
    text (its citation markers included), so a front end can rewrite the answer in place."""

    text: str  # as written, the model's citation markers removed
    start: int
    end: int
    checked: bool  # long enough to claim something: sentences that are not are never flagged
    sources: tuple[int, ...] = ()  # supporting source numbers, best first
    support: float | None = None  # the best passage's rule score (None when not checked)
    spans: tuple[tuple[int, int, int], ...] = ()  # (n, start, end): the supporting window in source n's text
    cited: tuple[int, ...] = ()  # numbers the model wrote that exist
    removed: tuple[int, ...] = ()  # numbers the model wrote that no source has

    @property
    def flags(self) -> tuple[str, ...]:
        """What the reader must know about this sentence, one phrase each."""
        flags = []
        if self.checked and not self.sources:
            flags.append(UNSUPPORTED)
        flags += [f"cited {n}, which does not support it" for n in self.cited if n not in self.sources]
        flags += [f"cited {n}, which does not exist (removed)" for n in self.removed]
        return tuple(flags)

    @property
    def unsupported(self) -> bool:
        return self.checked and not self.sources

    def to_dict(self) -> dict:
        """The history's and `ask --json`'s form (the schema's `text`, `sources`, `support`, plus detail)."""
        return {
            "text": self.text,
            "sources": list(self.sources),
            "support": self.support,
            "flags": list(self.flags),
            "checked": self.checked,
            "start": self.start,
            "end": self.end,
            "spans": [list(s) for s in self.spans],
            "cited": list(self.cited),
            "removed": list(self.removed),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Sentence":
        return cls(
            text=str(data["text"]),
            start=int(data["start"]),
            end=int(data["end"]),
            checked=bool(data["checked"]),
            sources=tuple(int(n) for n in data.get("sources", ())),
            support=None if data.get("support") is None else float(data["support"]),
            spans=tuple((int(n), int(a), int(b)) for n, a, b in data.get("spans", ())),
            cited=tuple(int(n) for n in data.get("cited", ())),
            removed=tuple(int(n) for n in data.get("removed", ())),
        )


# -- splitting -------------------------------------------------------------------------------
def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`: a line is never joined to the next (list items,
    headings), a line splits after . ! ? (and any citations right after them) unless the word
    before is an abbreviation ("e.g.", "Dr.") or a number's decimal point; list markers are left out."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        marker = _LIST_MARKER.match(body)
        start = offset + (marker.end() if marker else 0)
        cursor = start - offset
        for end in _BOUNDARY.finditer(body, cursor):
            word = body[cursor : end.start()].rsplit(None, 1)[-1].lower() if body[cursor : end.start()].strip() else ""
            if word.rstrip(".") in _ABBREVIATIONS:
                continue  # "e.g. metformin", "Dr. Smith" (a lone letter ends a sentence: "vitamin K.")
            _add(spans, text, offset + cursor, offset + end.end())
            cursor = end.end()
        _add(spans, text, offset + cursor, offset + len(body))
        offset += len(line)
    return spans


def _add(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    """Append the span trimmed of surrounding whitespace, if anything is left."""
    piece = text[start:end]
    if piece.strip():
        lead = len(piece) - len(piece.lstrip())
        spans.append((start + lead, start + len(piece.rstrip())))


def read_citations(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its citation markers, and the numbers they cite in order ("[1, 3]",
    "[2-4]" and "[5]–[8]" included; a range is every number in it)."""
    numbers: list[int] = []

    def take(match: re.Match) -> str:
        parts = re.split(r"\s*[,;]\s*", match.group(1))
        for part in parts:
            bounds = [int(b) for b in re.split(r"\s*[–—-]\s*", part)]
            numbers.extend(range(bounds[0], bounds[-1] + 1) if bounds[-1] >= bounds[0] else bounds)
        if match.group(2):
            numbers.extend(range(numbers[-1] + 1, int(match.group(2)) + 1))
        return ""

    clean = re.sub(r"\s+([.,;:!?])", r"\1", _CITATION.sub(take, sentence))
    return re.sub(r"\s{2,}", " ", clean).strip(), list(dict.fromkeys(numbers))


# -- scoring ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """One sentence of a passage, or two adjacent ones: what a sentence of the answer is compared with."""

    source: int  # the passage's number n
    start: int
    end: int
    parts: tuple[int, ...]  # indexes into the passage sentences' embeddings


def _windows(passages: list[str]) -> tuple[list[str], list[Window]]:
    texts: list[str] = []
    windows: list[Window] = []
    for n, passage in enumerate(passages, 1):
        spans = split_sentences(passage)
        first = len(texts)
        texts += [passage[a:b] for a, b in spans]
        for i, (a, b) in enumerate(spans):
            windows.append(Window(n, a, b, (first + i,)))
            if i + 1 < len(spans):
                windows.append(Window(n, a, spans[i + 1][1], (first + i, first + i + 1)))
    return texts, windows


def _recall(words: set[str], window_words: set[str]) -> float:
    return len(words & window_words) / len(words) if words else 0.0


def numbers(text: str) -> set[str]:
    """The numbers a text states ("130/80 mm Hg" -> 130, 80; "2.5 mg" -> 2.5)."""
    return set(_NUMBER.findall(text))


def negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def key_terms(words: set[str], vetoes: Vetoes) -> set[str]:
    """The content words of a sentence that few or no documents of the corpus hold ("yes" opens
    an answer, it claims nothing a passage must say)."""
    ordered = sorted(words - _ANSWER_WORDS)
    if vetoes.rarity is None or not ordered:
        return set()
    return {w for w, share in zip(ordered, vetoes.rarity(ordered)) if share <= vetoes.rare_share}


def admissible(features: dict) -> bool:
    """Whether a window passed every veto (see the module's docstring): else it scores 0."""
    return all(features.get(v, 1.0) for v in VETOES)


def support_scores(
    sentences: list[str],
    passages: list[str],
    embed: Embed | None,
    vetoes: Vetoes = Vetoes(),
    cross: CrossCheck | None = None,
) -> list[list[tuple[dict, Window]]]:
    """For each sentence, each window's features with the window: every pair, for the bench to
    fit rules on; `attribute` keeps each passage's best. Without `embed`, lexical only. A pair's
    vector is the normalised sum of its sentences' (one embedding per passage sentence). With
    `cross`, only the windows it reads are kept, each with its `cross` score."""
    passage_texts, windows = _windows(passages)
    if not sentences or not windows:
        return [[] for _ in sentences]
    cosines = None
    if embed is not None:
        vectors = np.asarray(embed(sentences + passage_texts), dtype=np.float32)
        asked, parts = vectors[: len(sentences)], vectors[len(sentences) :]
        merged = np.stack([parts[list(w.parts)].sum(axis=0) for w in windows])
        merged /= np.maximum(np.linalg.norm(merged, axis=1, keepdims=True), 1e-12)
        cosines = asked @ merged.T
    part_words = [set(content_words(t)) for t in passage_texts]
    part_numbers = [numbers(t) for t in passage_texts]
    window_words = [set().union(*(part_words[p] for p in w.parts)) for w in windows]
    window_numbers = [set().union(*(part_numbers[p] for p in w.parts)) for w in windows]
    part_negated = [negated(t) for t in passage_texts]
    window_negated = [any(part_negated[p] for p in w.parts) for w in windows]
    out = []
    for i, sentence in enumerate(sentences):
        words = set(content_words(sentence))
        stated, keys, negative = numbers(sentence), key_terms(words, vetoes), negated(sentence)
        out.append(
            [
                (
                    {
                        "lexical": _recall(words, window_words[j]),
                        "numbers": float(stated <= window_numbers[j]),
                        "terms": float(keys <= window_words[j]),
                        "negation": float(not vetoes.negation or negative == window_negated[j]),
                    }
                    | ({} if cosines is None else {"dense": float(cosines[i, j])}),
                    w,
                )
                for j, w in enumerate(windows)
            ]
        )
    return out if cross is None else _read_across(out, sentences, passages, cross)


def _read_across(
    scored: list[list[tuple[dict, Window]]], sentences: list[str], passages: list[str], cross: CrossCheck
) -> list[list[tuple[dict, Window]]]:
    """Each sentence's `CROSS_WINDOWS` best admissible windows per passage under `cross.select`,
    with the cross-encoder's score of each (one batch for the whole answer)."""
    kept = []
    for pairs in scored:
        by_passage: dict[int, list[tuple[dict, Window]]] = defaultdict(list)
        for features, window in pairs:
            if admissible(features):
                by_passage[window.source].append((features, window))
        best = [sorted(group, key=lambda p: -cross.select.score(p[0]))[:CROSS_WINDOWS] for group in by_passage.values()]
        kept.append([pair for group in best for pair in group])
    texts = [(s, passages[w.source - 1][w.start : w.end]) for s, pairs in zip(sentences, kept) for _, w in pairs]
    scores = iter(cross.score(texts))
    return [[(features | {CROSS: next(scores)}, w) for features, w in pairs] for pairs in kept]


def is_claim(sentence: str) -> bool:
    """Whether a sentence (citations removed) states something a source could support: enough
    content words, and not a lead-in or heading ending in ':' ("This includes the following:"),
    which lexical overlap would otherwise link to any passage that shares its topic words."""
    return len(set(content_words(sentence))) >= MIN_CONTENT_WORDS and not sentence.rstrip().endswith(":")


def attribute(
    answer: str,
    passages: list[str],
    embed: Embed,
    rule: Rule,
    vetoes: Vetoes = Vetoes(),
    cross: CrossCheck | None = None,
) -> list[Sentence]:
    """Every sentence of `answer` with the passages (numbered from 1, as in the prompt) that
    support it under `rule` (a rule over `cross` needs `cross`), and the model's own citations
    checked against them. Nothing is embedded when no rule uses dense similarity."""
    spans = split_sentences(answer)
    read = [read_citations(answer[a:b]) for a, b in spans]
    checked = [is_claim(text) for text, _ in read]
    to_score = [text for (text, _), c in zip(read, checked) if c]
    uses_dense = "dense" in rule.weights or (cross is not None and "dense" in cross.select.weights)
    dense = embed if uses_dense else None
    scored = iter(support_scores(to_score, passages, dense, vetoes, cross)) if passages else iter(())
    out = []
    for (start, end), (text, numbers), check in zip(spans, read, checked):
        cited = tuple(n for n in numbers if 1 <= n <= len(passages))
        removed = tuple(n for n in numbers if not 1 <= n <= len(passages))
        if not check:
            out.append(Sentence(text, start, end, False, cited=cited, removed=removed))
            continue
        best: dict[int, tuple[float, Window]] = {}
        for features, window in next(scored, []):
            score = rule.score(features) if admissible(features) else 0.0
            held = best.get(window.source)
            tighter = held is not None and score == held[0] and len(window.parts) < len(held[1].parts)
            if held is None or score > held[0] or tighter:  # on a tie the single sentence, the tighter span
                best[window.source] = (score, window)
        ranked = sorted(best.items(), key=lambda item: -item[1][0])
        passing = [(n, w) for n, (s, w) in ranked if s >= rule.threshold][:MAX_SOURCES]
        top = ranked[0][1][0] if ranked else 0.0
        out.append(
            Sentence(
                text,
                start,
                end,
                True,
                sources=tuple(n for n, _ in passing),
                support=top,
                spans=tuple((n, w.start, w.end) for n, w in passing),
                cited=cited,
                removed=removed,
            )
        )
    return out


# -- rules -----------------------------------------------------------------------------------
def _calibration() -> dict:
    try:
        return json.loads(CALIBRATION.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MedtuiError(f"{CALIBRATION}: unreadable attribution calibration ({e}): reinstall medtui") from None


def attribution_vetoes(rarity: Rarity | None) -> Vetoes:
    """The vetoes with the calibrated key-term share, for a corpus whose word counts are `rarity`."""
    data = _calibration().get("vetoes", {})
    try:
        return Vetoes(rarity, float(data.get("rare_share", 0.0)), bool(data.get("negation", True)))
    except (TypeError, ValueError):
        raise MedtuiError(f"{CALIBRATION}: unreadable attribution vetoes: reinstall medtui") from None


def attribution_rule(embedder: str) -> tuple[Rule, str]:
    """The rule for sentences embedded with `embedder`, and where it comes from: its calibrated
    rule, else the lexical rule (which needs no embedder)."""
    data = _calibration()
    own = data.get("embedders", {}).get(embedder)
    try:
        if own is None:
            return Rule.from_dict(data["lexical"], "", FEATURES), f"lexical rule: {embedder} is not calibrated"
        return Rule.from_dict(own, "", FEATURES), str(data.get("source", ""))
    except (MedtuiError, KeyError, TypeError):
        raise MedtuiError(f"{CALIBRATION}: unreadable attribution rule: reinstall medtui") from None


def cross_encoder_rule(reranker: str, embedder: str) -> tuple[CrossRule | None, str]:
    """The rules calibrated for cross-encoder `reranker` with sentences embedded by `embedder`,
    and where they come from; None, and why, when there are none (then the embedder's rule
    applies and the cross-encoder is not used)."""
    data = _calibration()
    try:
        own = data.get("cross_encoders", {}).get(reranker)
        if own is None:
            return None, "it has no calibration"
        if own.get("embedder") != embedder:
            return None, f"it is calibrated with embedder {own.get('embedder')}, not {embedder}"
        rule = Rule.from_dict(own, "", (*FEATURES, CROSS))
        return CrossRule(rule, Rule.from_dict(own["select"], "", FEATURES)), str(own.get("source", ""))
    except (MedtuiError, KeyError, AttributeError, TypeError):
        raise MedtuiError(f"{CALIBRATION}: unreadable attribution rule for {reranker}: reinstall medtui") from None

"""Token-aware chunking that respects headings and paragraphs.

Counting is done with the embedder's own tokenizer, so a chunk of `tokens` tokens is what
the embedder actually sees (MiniLM truncates at 256 word pieces). A chunk never crosses a
heading; inside a section it prefers to end at a paragraph, else at a sentence, and only
splits inside a sentence that alone is too long. Consecutive chunks share about `overlap`
tokens of whole sentences so a fact cut at a boundary is still found.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from medtui.core.rag.snippet import Snippet

CountTokens = Callable[[list[str]], list[int]]
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*\S)\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'])")


@dataclass(frozen=True)
class ChunkSpec:
    tokens: int = 200
    overlap: int = 32

    def __post_init__(self) -> None:
        if self.tokens < 16 or not 0 <= self.overlap < self.tokens // 2:
            raise ValueError("chunk tokens must be >= 16 and overlap between 0 and half of them")


@dataclass(frozen=True)
class Document:
    """A text to index before chunking; `whole` keeps it as one snippet (already a snippet).
    `reference` says where it came from, for citing (a DOI, a PMID, an HPO id); every snippet of
    the document carries it."""

    id: str
    title: str
    source: str
    text: str
    whole: bool = False
    reference: str = ""


@dataclass
class _Unit:
    text: str
    tokens: int
    para_start: bool


def _sections(text: str, title: str) -> Iterator[tuple[str, list[str]]]:
    """(section title, paragraphs) in order. Markdown headings open sections and nest by level
    ("Book › Chapter › Section"); paragraphs are blank-line separated, or one per line in text
    that has no blank lines (converted books)."""
    one_per_line = not re.search(r"\n\s*\n", text)
    path: list[tuple[int, str]] = []  # open headings as (level, text)
    paragraphs: list[str] = []
    current: list[str] = []

    def heading() -> str:
        return " › ".join([title] * bool(title) + [h for _, h in path])

    for line in [*text.splitlines(), ""]:
        match = _HEADING.match(line)
        if current and (match or not line.strip() or one_per_line):
            paragraphs.append(" ".join(current))
            current = []
        if match:
            if paragraphs:
                yield heading(), paragraphs
                paragraphs = []
            level = len(match.group(1))
            path = [(lv, h) for lv, h in path if lv < level] + [(level, match.group(2))]
        elif line.strip():
            current.append(line.strip())
    if paragraphs:
        yield heading(), paragraphs


def _split_long(sentence: str, limit: int, tokenizer) -> list[str]:
    """Cut one over-long sentence into pieces of at most `limit` tokens, between words."""
    offsets = tokenizer(sentence, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
        "offset_mapping"
    ]
    pieces, start = [], 0
    while start < len(offsets):
        end = min(start + limit, len(offsets))
        cut = end
        while start + 1 < cut < len(offsets) and offsets[cut][0] == offsets[cut - 1][1]:
            cut -= 1  # the token at `cut` continues a word: cut before that word instead
        end = cut if cut > start + 1 else end
        pieces.append(sentence[offsets[start][0] : offsets[end - 1][1]].strip())
        start = end
    return [p for p in pieces if p]


class Chunker:
    def __init__(self, tokenizer, spec: ChunkSpec = ChunkSpec()) -> None:
        self.tokenizer = tokenizer  # a fast Hugging Face tokenizer (the embedder's)
        self.spec = spec

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]]

    def _units(self, paragraphs: list[str]) -> list[_Unit]:
        sentences, starts = [], []
        for paragraph in paragraphs:
            parts = _SENTENCE_END.split(paragraph)
            sentences += parts
            starts += [True] + [False] * (len(parts) - 1)
        units = []
        for sentence, start, n in zip(sentences, starts, self.count(sentences)):
            if n <= self.spec.tokens:
                units.append(_Unit(sentence, n, start))
                continue
            pieces = _split_long(sentence, self.spec.tokens, self.tokenizer)
            units += [_Unit(p, c, start and i == 0) for i, (p, c) in enumerate(zip(pieces, self.count(pieces)))]
        return units

    def _pack(self, units: list[_Unit]) -> Iterator[list[_Unit]]:
        chunk: list[_Unit] = []
        size = 0
        for unit in units:
            if chunk and size + unit.tokens > self.spec.tokens:
                cut = len(chunk)
                para = max((i for i, u in enumerate(chunk) if u.para_start and i > 0), default=0)
                if para and sum(u.tokens for u in chunk[:para]) >= self.spec.tokens // 2:
                    cut = para  # end at the paragraph break; its tail opens the next chunk
                yield chunk[:cut]
                carry = chunk[cut:]
                tail: list[_Unit] = []
                for u in reversed(chunk[:cut]):
                    if sum(t.tokens for t in tail) + u.tokens > self.spec.overlap:
                        break
                    tail.insert(0, u)
                chunk = tail + carry
                while chunk and sum(u.tokens for u in chunk) + unit.tokens > self.spec.tokens:
                    chunk.pop(0)
                size = sum(u.tokens for u in chunk)
            chunk.append(unit)
            size += unit.tokens
        if chunk:
            yield chunk

    def chunk(self, doc: Document) -> Iterator[Snippet]:
        """Snippets with ids `<doc id>#<n>`; a whole document keeps its own id."""
        if doc.whole:
            yield Snippet(
                id=doc.id,
                title=doc.title,
                source=doc.source,
                text=doc.text.strip(),
                doc_id=doc.id,
                reference=doc.reference,
            )
            return
        position = 0
        for heading, paragraphs in _sections(doc.text, doc.title):
            for chunk in self._pack(self._units(paragraphs)):
                text = _join(chunk)
                if text:
                    yield Snippet(
                        id=f"{doc.id}#{position}",
                        title=heading,
                        source=doc.source,
                        text=text,
                        position=position,
                        doc_id=doc.id,
                        reference=doc.reference,
                    )
                    position += 1


def _join(units: list[_Unit]) -> str:
    out = ""
    for u in units:
        out += ("\n" if u.para_start and out else " " if out else "") + u.text
    return out.strip()

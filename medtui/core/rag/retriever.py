"""Hybrid search with the question alone (never the instructions or answer options around it),
then the relevance gate and one slot per document (docs/grounding.md).

Dense (embedding) and BM25 candidates are fused with reciprocal rank fusion, the same passage
found under two ids is shown once, and an optional cross-encoder reorders the fused
candidates. Every candidate is then scored by every signal the index has, whichever retriever
found it, so the gate can judge each one; only those that pass go into the prompt.
"""

import hashlib
from dataclasses import dataclass, field

import numpy as np

from medtui.core.errors import MedtuiError
from medtui.core.rag.embedder import embed, load_embedder
from medtui.core.rag.fusion import rrf
from medtui.core.rag.gate import Gate, Rule, SearchMode, index_gate
from medtui.core.rag.index import SnippetIndex
from medtui.core.rag.merge import merge_documents
from medtui.core.rag.reranker import load_reranker, rerank
from medtui.core.rag.snippet import Hit

CANDIDATES = 4  # each retriever returns k * CANDIDATES before fusion, the gate and merging


@dataclass(frozen=True)
class SearchOptions:
    dense: bool = True
    bm25: bool = True
    reranker: str = ""  # a cross-encoder name or folder; "" for none

    def __post_init__(self) -> None:
        if not (self.dense or self.bm25):
            raise MedtuiError("both retrievers are off: turn on dense or bm25 (or turn RAG off)")


@dataclass(frozen=True)
class Retrieval:
    """What one search found: the sources for the prompt, and what the gate kept out."""

    query: str
    index: str
    mode: SearchMode
    rule: Rule
    hits: list[Hit]  # passed the gate, one per document, best first: these go into the prompt
    rejected: list[Hit] = field(default_factory=list)  # candidates below the gate, best first
    dense_pending: bool = False  # dense search was asked for, but the index's dense half is still building

    @property
    def grounded(self) -> bool:
        return bool(self.hits)

    def notices(self) -> list[str]:
        """What the user must know about this search, in the words the sources panel shows."""
        notices = []
        if self.dense_pending:
            notices.append(
                f"keyword search only: dense search of {self.index} is not built yet (the chat builds it in the "
                f"background; or run `medtui index rebuild {self.index}`)"
            )
        if not self.hits:
            notices.append(f"no source in {self.index} covers this question")
        return notices


def _digest(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).lower().encode("utf-8")).hexdigest()


class Retriever:
    def __init__(self, index: SnippetIndex, options: SearchOptions = SearchOptions()) -> None:
        self.index = index.open()
        self.options = options
        manifest = self.index.manifest()
        self.query_embedder = manifest.query_embedder or manifest.embedder
        self.gate: Gate = index_gate(manifest.gate, manifest.embedder, str(self.index.manifest_path))
        if self._dense_on():
            load_embedder(self.query_embedder)  # load now (in the caller's worker), not on the first question
        if options.reranker:
            load_reranker(options.reranker)

    def _dense_on(self) -> bool:
        """Dense search runs when asked for and the index's dense phase is complete."""
        return self.options.dense and self.index.dense_ready

    def dense_pending(self) -> bool:
        """Dense search is asked for but the index's dense phase is not complete: keyword search only."""
        return self.options.dense and not self.index.dense_ready

    def mode(self) -> SearchMode:
        if self._dense_on():
            return SearchMode.HYBRID if self.options.bm25 else SearchMode.DENSE
        return SearchMode.BM25  # asked for, or the only half ready

    def rank(self, question: str, n: int) -> list[Hit]:
        """Up to `n` candidates, best first, each scored by every signal (no gate, no merging):
        what ranking benchmarks measure and what the gate judges."""
        rankings: dict[str, list[tuple[str, float]]] = {}
        vector = None
        if self._dense_on():
            vector = np.asarray(embed([question], self.query_embedder)[0], dtype=np.float32)
            rankings["dense"] = self.index.dense_search(vector.tolist(), n)
        lexical = self.index.bm25_query(question)
        if self.options.bm25 or not rankings:
            rankings["bm25"] = lexical.top(n)
        fused = (
            rrf(rankings)
            if len(rankings) > 1
            else [(sid, s, {name: s}) for name, r in rankings.items() for sid, s in r]
        )
        snippets = self.index.fetch([sid for sid, _, _ in fused])
        cosines = self._cosines(vector, [sid for sid, _, own in fused if "dense" not in own])
        hits: list[Hit] = []
        seen: set[str] = set()
        for sid, score, own in fused:
            snippet = snippets.get(sid)
            if snippet is None or (digest := _digest(snippet.text)) in seen:
                continue  # the same passage under two ids (e.g. two sources) is shown once
            seen.add(digest)
            bm25 = lexical.score(sid)
            scores = {"bm25": bm25, "bm25n": lexical.normalized(bm25)}
            if vector is not None:
                scores["dense"] = own.get("dense", cosines.get(sid, 0.0))
            if len(rankings) > 1:
                scores["rrf"] = score
            hits.append(Hit(snippet, score, scores))
        if self.options.reranker and hits:
            hits = hits[: max(n, 10)]  # a cross-encoder is slow: it reorders the best fused candidates only
            reranked = rerank(self.options.reranker, question, [h.snippet.text for h in hits])
            hits = [
                Hit(h.snippet, s, dict(h.scores, rerank=s)) for h, s in sorted(zip(hits, reranked), key=lambda p: -p[1])
            ]
        return hits[:n]

    def _cosines(self, vector: np.ndarray | None, ids: list[str]) -> dict[str, float]:
        """Cosine of the query with passages the dense search did not return (vectors are unit length)."""
        if vector is None or not ids:
            return {}
        return {sid: float(np.dot(v, vector)) for sid, v in self.index.vectors(ids).items()}

    def retrieve(self, question: str, k: int) -> Retrieval:
        """The sources for a prompt: candidates that pass the gate, one slot per document, at most k."""
        mode = self.mode()
        rule = self.gate.rule(mode)
        candidates = self.rank(question, k * CANDIDATES)
        passed: list[Hit] = []
        rejected: list[Hit] = []
        for hit in candidates:
            (passed if rule.passes(hit.scores) else rejected).append(hit)
        return Retrieval(
            question, self.index.name, mode, rule, merge_documents(passed)[:k], rejected, self.dense_pending()
        )

    def search(self, question: str, k: int) -> list[Hit]:
        """The passages a prompt gets for `question` (gated and merged)."""
        return self.retrieve(question, k).hits

"""Hybrid search with the question alone (never the instructions or answer options around it).

Dense (embedding) and BM25 candidates are fused with reciprocal rank fusion, the same
passage found under two ids is shown once, and an optional cross-encoder reorders the
fused candidates. Every hit keeps each retriever's own score for the sources panel.
"""

import hashlib
from dataclasses import dataclass

from medtui.core.errors import MedtuiError
from medtui.core.rag.embedder import embed, load_embedder
from medtui.core.rag.fusion import rrf
from medtui.core.rag.index import SnippetIndex
from medtui.core.rag.reranker import load_reranker, rerank
from medtui.core.rag.snippet import Hit

CANDIDATES = 4  # each retriever returns k * CANDIDATES before fusion and dedupe


@dataclass(frozen=True)
class SearchOptions:
    dense: bool = True
    bm25: bool = True
    reranker: str = ""  # a cross-encoder name or folder; "" for none

    def __post_init__(self) -> None:
        if not (self.dense or self.bm25):
            raise MedtuiError("both retrievers are off: turn on dense or bm25 (or turn RAG off)")


def _digest(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).lower().encode("utf-8")).hexdigest()


class Retriever:
    def __init__(self, index: SnippetIndex, options: SearchOptions = SearchOptions()) -> None:
        self.index = index.open()
        self.options = options
        manifest = self.index.manifest()
        self.query_embedder = manifest.query_embedder or manifest.embedder
        if options.dense:
            load_embedder(self.query_embedder)  # load now (in the caller's worker), not on the first question
        if options.reranker:
            load_reranker(options.reranker)

    def search(self, question: str, k: int) -> list[Hit]:
        n = k * CANDIDATES
        rankings: dict[str, list[tuple[str, float]]] = {}
        if self.options.dense:
            rankings["dense"] = self.index.dense_search(embed([question], self.query_embedder)[0], n)
        if self.options.bm25:
            rankings["bm25"] = self.index.bm25_search(question, n)
        fused = (
            rrf(rankings)
            if len(rankings) > 1
            else [(sid, s, {name: s}) for name, r in rankings.items() for sid, s in r]
        )
        snippets = self.index.fetch([sid for sid, _, _ in fused])
        hits: list[Hit] = []
        seen: set[str] = set()
        for sid, score, own in fused:
            snippet = snippets.get(sid)
            if snippet is None or (digest := _digest(snippet.text)) in seen:
                continue  # the same passage under two ids (e.g. two sources) is shown once
            seen.add(digest)
            scores = dict(own, rrf=score) if len(rankings) > 1 else own
            hits.append(Hit(snippet, score, scores))
        if self.options.reranker and hits:
            hits = hits[: max(k * 2, 10)]
            reranked = rerank(self.options.reranker, question, [h.snippet.text for h in hits])
            hits = [
                Hit(h.snippet, s, dict(h.scores, rerank=s)) for h, s in sorted(zip(hits, reranked), key=lambda p: -p[1])
            ]
        return hits[:k]

"""Search an index with the question alone (never the instructions around it)."""

import hashlib

from medtui.rag.embedder import embed, load_embedder
from medtui.rag.index import SnippetIndex
from medtui.rag.snippet import Hit


class Retriever:
    def __init__(self, index: SnippetIndex) -> None:
        self.index = index.open()
        self.embedder = self.index.manifest().embedder
        load_embedder(self.embedder)  # load now (in the caller's worker), not on the first question

    def search(self, question: str, k: int) -> list[Hit]:
        vector = embed([question], self.embedder)[0]
        hits: list[Hit] = []
        seen: set[str] = set()
        for snippet, score in self.index.dense_search(vector, k * 2):
            digest = hashlib.sha1(" ".join(snippet.text.split()).lower().encode("utf-8")).hexdigest()
            if digest in seen:  # the same passage under two ids (e.g. two sources) is shown once
                continue
            seen.add(digest)
            hits.append(Hit(snippet, score, {"dense": score}))
        return hits[:k]

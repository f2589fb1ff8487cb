"""The lexical half of hybrid search: a bm25s index stored beside the vectors.

bm25s has no incremental add, so the index is rebuilt over every snippet when a build
finishes (seconds for 100K snippets) and written to a partial folder that replaces the
old one in one rename (`atomic_dir`): a crash leaves the previous index or the new one, never a mix.
"""

import json
from pathlib import Path

import numpy as np

from medtui.core.files import atomic_dir

STOPWORDS = "en"


def _stemmer():
    import Stemmer  # PyStemmer: Snowball stemming, so "fractures" matches "fracture"

    return Stemmer.Stemmer("english")


def _tokenize(texts: list[str]):
    import bm25s

    return bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=_stemmer(), show_progress=False)


def build_bm25(folder: Path, ids: list[str], texts: list[str]) -> int:
    """Index `texts` (aligned with `ids`) into `folder`; returns the number of documents."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(_tokenize(texts), show_progress=False)
    with atomic_dir(folder) as partial:
        retriever.save(str(partial), show_progress=False)
        (partial / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    return len(ids)


class Bm25Index:
    def __init__(self, folder: Path) -> None:
        import bm25s

        self.retriever = bm25s.BM25.load(str(folder), mmap=False, show_progress=False)
        self.ids: list[str] = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        self.stemmer = _stemmer()

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        import bm25s

        words = bm25s.tokenize(
            [query], stopwords=STOPWORDS, stemmer=self.stemmer, return_ids=False, show_progress=False
        )[0]
        token_ids = self.retriever.get_tokens_ids(words)
        if not token_ids:
            return []
        scores = self.retriever.get_scores_from_ids(token_ids)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

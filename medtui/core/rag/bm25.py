"""The lexical half of hybrid search: a bm25s index stored beside the vectors.

bm25s has no incremental add, so the index is rebuilt over every snippet when a build
finishes (seconds for 100K snippets) and written to a partial folder that replaces the
old one in one rename (`atomic_dir`): a crash leaves the previous index or the new one, never a mix.
"""

import json
import math
from pathlib import Path

import numpy as np

from medtui.core.files import atomic_dir

STOPWORDS = "en"
# bm25s's English list has 33 words; a question's own words ("how do I", "what is") say nothing
# about its topic but would match any passage that uses them. Dropped from queries only, so
# indexes built before keep their vocabulary.
_QUESTION_WORDS = """how what which who whom whose when where why do does did done can could should would may might
must shall will were am i me my mine you your we our us tell explain describe"""
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())


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


class Bm25Query:
    """One query's BM25 scores over every snippet, and its best possible score.

    A BM25 term contributes idf(t) · tf / (tf + k1 · length norm), which stays below idf(t), so
    Σ idf(t) over the query's terms bounds any snippet's score. `normalized` divides by that
    bound: 0–1, comparable across queries of different lengths (what the relevance gate needs).
    A query word the corpus never uses counts at the highest idf, so a question about something
    the index lacks ("car tyre") scores low even when one common word matches.
    """

    def __init__(self, index: "Bm25Index", words: list[str]) -> None:
        self.index = index
        known = index.retriever.get_tokens_ids(words)
        self.scores = index.retriever.get_scores_from_ids(known) if known else np.zeros(len(index.ids))
        unknown = len(words) - len(known)
        self.bound = float(sum(index.idf(t) for t in known) + unknown * index.idf(None))

    def top(self, k: int) -> list[tuple[str, float]]:
        """The k best (id, raw score), best first; snippets sharing no word are left out."""
        k = min(k, len(self.scores))
        if k <= 0:
            return []
        top = np.argpartition(-self.scores, k - 1)[:k]
        top = top[np.argsort(-self.scores[top])]
        return [(self.index.ids[i], float(self.scores[i])) for i in top if self.scores[i] > 0]

    def score(self, sid: str) -> float:
        row = self.index.rows.get(sid)
        return float(self.scores[row]) if row is not None else 0.0

    def normalized(self, score: float) -> float:
        return score / self.bound if self.bound > 0 else 0.0


class Bm25Index:
    def __init__(self, folder: Path) -> None:
        import bm25s

        self.retriever = bm25s.BM25.load(str(folder), mmap=False, show_progress=False)
        self.ids: list[str] = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        self.rows = {sid: row for row, sid in enumerate(self.ids)}
        self.stemmer = _stemmer()
        indptr = self.retriever.scores["indptr"]
        self._df = np.diff(indptr)  # documents holding each vocabulary term

    def __len__(self) -> int:
        return len(self.ids)

    def idf(self, token_id: int | None) -> float:
        """Lucene's idf (bm25s's default); None is a word no snippet has (document frequency 0)."""
        n = len(self.ids)
        df = 0 if token_id is None else int(self._df[token_id])
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def document_share(self, words: list[str]) -> list[float]:
        """Each (stemmed) word's share of the snippets that hold it, 0 for one none holds: how rare
        it is in this corpus (attribution's key terms)."""
        vocab, n = self.retriever.vocab_dict, max(len(self.ids), 1)
        return [int(self._df[vocab[w]]) / n if w in vocab else 0.0 for w in words]

    def query(self, query: str) -> Bm25Query:
        return Bm25Query(self, _query_words(query, self.stemmer))

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.query(query).top(k)


def _query_words(query: str, stemmer) -> list[str]:
    import bm25s

    stopwords = sorted(QUESTION_WORDS.union(bm25s.stopwords.STOPWORDS_EN))
    words = bm25s.tokenize([query], stopwords=stopwords, stemmer=stemmer, return_ids=False, show_progress=False)[0]
    return list(words)


def content_words(text: str) -> list[str]:
    """The words a query is matched on (stopwords and question words dropped, stemmed): what it says."""
    return _query_words(text, _stemmer())

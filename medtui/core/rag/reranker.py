"""Optional cross-encoder (e.g. a MedCPT or ms-marco cross-encoder the user has): it reorders
retrieval's candidates and, where calibrated, reads answer sentences against their passages.

A cross-encoder reads its two texts together, so it judges a pair better than comparing their
embeddings, at the cost of one forward pass per pair.
"""

from functools import lru_cache

from medtui.core import hub
from medtui.core.errors import MedtuiError


@lru_cache(maxsize=1)
def load_reranker(name: str):
    from sentence_transformers import CrossEncoder

    unreachable = hub.check_source(name)  # offline first: no minute of retries
    try:
        return CrossEncoder(name, device="cpu", trust_remote_code=False)
    except OSError as e:
        if unreachable:
            raise hub.unreachable_error(unreachable, f"reranker {name}", "give a local cross-encoder folder") from None
        raise MedtuiError(
            f"cannot load reranker {name} ({e}): give a local cross-encoder folder or a Hub id you have"
        ) from None


def score_pairs(name: str, pairs: list[tuple[str, str]]) -> list[float]:
    """The cross-encoder's score of each (a, b) pair, all in one batched call: (question, passage)
    for reranking, (answer sentence, passage window) for attribution."""
    if not pairs:
        return []
    return [float(s) for s in load_reranker(name).predict(pairs, batch_size=32, show_progress_bar=False)]


def rerank(name: str, question: str, texts: list[str]) -> list[float]:
    return score_pairs(name, [(question, t) for t in texts])

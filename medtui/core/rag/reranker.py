"""Optional cross-encoder (e.g. a MedCPT or ms-marco cross-encoder the user has): it reorders
retrieval's candidates and, where calibrated, reads answer sentences against their passages.

A cross-encoder reads its two texts together, so it judges a pair better than comparing their
embeddings, at the cost of one forward pass per pair.
"""

from functools import lru_cache
from pathlib import Path

from medtui.core import hub
from medtui.core.errors import MedtuiError
from medtui.core.registry import is_hub_id


def reranker_problem(name: str) -> str | None:
    """Why `name` cannot be a cross-encoder before anything is loaded: neither a folder nor a Hub id
    (a mistyped path would otherwise reach the Hub client and come back as its rules for repo names)."""
    if not name or is_hub_id(name) or Path(name).expanduser().exists():
        return None
    return (
        f"reranker {name!r} is neither a folder nor a Hub id: set reranker in config.toml (or --reranker) "
        'to a cross-encoder folder or Hub id, or to "" for none'
    )


@lru_cache(maxsize=1)
def load_reranker(name: str):
    from sentence_transformers import CrossEncoder

    if problem := reranker_problem(name):
        raise MedtuiError(problem)
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

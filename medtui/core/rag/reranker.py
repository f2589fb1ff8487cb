"""Optional cross-encoder reranking (e.g. a MedCPT or ms-marco cross-encoder the user has).

A cross-encoder reads question and passage together, so it orders the fused candidates
better than either retriever, at the cost of one forward pass per candidate.
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


def rerank(name: str, question: str, texts: list[str]) -> list[float]:
    return [
        float(s)
        for s in load_reranker(name).predict([(question, t) for t in texts], batch_size=32, show_progress_bar=False)
    ]

"""Sentence embeddings, by default all-MiniLM-L6-v2 loaded from its PyPI package folder."""

from functools import lru_cache

from medtui.core import hub
from medtui.core.assets import asset_path
from medtui.core.errors import MedtuiError

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


@lru_cache(maxsize=2)
def load_embedder(name: str = DEFAULT_EMBEDDER):
    """A SentenceTransformer; the default comes from disk, never from the Hub."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep stderr for our own progress bar

    source = str(asset_path("minilm")) if name == DEFAULT_EMBEDDER else name
    unreachable = hub.check_source(source)  # offline first: no minute of retries
    try:
        return SentenceTransformer(source, device="cpu", trust_remote_code=False)
    except OSError as e:
        if unreachable:
            raise hub.unreachable_error(unreachable, f"embedding model {name}", "pick a local folder") from None
        raise MedtuiError(f"cannot load embedding model {name} ({e}): install it or pick a local folder") from None


def embed(texts: list[str], name: str = DEFAULT_EMBEDDER) -> list[list[float]]:
    vectors = load_embedder(name).encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return vectors.tolist()

"""Wire settings to the services (engine, index, history) that the CLI and the TUI share."""

import threading

from medtui.core.config import Settings
from medtui.core.engines import Engine, load_engine
from medtui.core.rag.corpora.default import DEFAULT_INDEX
from medtui.core.rag.default_index import ensure_default_index
from medtui.core.rag.index import Progress, SnippetIndex
from medtui.core.rag.retriever import Retriever, SearchOptions
from medtui.core.registry import Registry


def open_retriever(
    settings: Settings,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    dense_now: bool = True,
) -> Retriever | None:
    """The configured index, building the default one on first use; None with RAG off.

    With `dense_now=False` the default index is only built to its keyword phase (seconds), so
    the caller can answer at once and finish the dense phase in the background
    (`retriever.index.embed_pending`)."""
    if not settings.rag:
        return None
    options = SearchOptions(dense=settings.dense, bm25=settings.bm25, reranker=settings.reranker)
    index = (
        ensure_default_index(progress, cancel, dense=dense_now)
        if settings.index == DEFAULT_INDEX
        else SnippetIndex(settings.index)
    )
    return Retriever(index, options)


def open_engine(settings: Settings, model: str | None = None) -> Engine:
    return load_engine(Registry().get(model or settings.model), settings)

"""Wire settings to the services (engine, index, history) that the CLI and the TUI share."""

import threading

from medtui.config import Settings
from medtui.engines import Engine, load_engine
from medtui.rag.corpora.default import DEFAULT_INDEX
from medtui.rag.default_index import ensure_default_index
from medtui.rag.index import Progress, SnippetIndex
from medtui.rag.retriever import Retriever
from medtui.registry import Registry


def open_retriever(settings: Settings, progress: Progress | None = None, cancel: threading.Event | None = None) -> Retriever | None:
    """The configured index, building the default one on first use; None with RAG off."""
    if not settings.rag:
        return None
    if settings.index == DEFAULT_INDEX:
        return Retriever(ensure_default_index(progress, cancel))
    return Retriever(SnippetIndex(settings.index))


def open_engine(settings: Settings, model: str | None = None) -> Engine:
    return load_engine(Registry().get(model or settings.model), settings)

"""Build (or resume) the default index from packaged medical text on first use."""

import threading

from medtui.core.rag.corpora.default import DEFAULT_INDEX
from medtui.core.rag.index import Progress, SnippetIndex
from medtui.core.rag.manifest import FORMAT
from medtui.core.rag.sources import PACKAGED, SourceSpec


def ensure_default_index(progress: Progress | None = None, cancel: threading.Event | None = None) -> SnippetIndex:
    """The default index, built on first run and resumed if a build was interrupted.

    It is made from packaged files only, so an index of an older format is simply rebuilt.
    """
    index = SnippetIndex(DEFAULT_INDEX)
    if index.exists() and index.manifest().format != FORMAT:
        index.remove()
    if not index.is_complete():
        index.add([SourceSpec("packaged", PACKAGED)], progress=progress, cancel=cancel)
    return index

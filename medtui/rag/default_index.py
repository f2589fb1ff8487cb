"""Build (or resume) the default index from packaged medical text on first use."""

import threading

from medtui.rag.corpora.default import DEFAULT_INDEX, default_snippets
from medtui.rag.index import Progress, SnippetIndex


def ensure_default_index(progress: Progress | None = None, cancel: threading.Event | None = None) -> SnippetIndex:
    index = SnippetIndex(DEFAULT_INDEX)
    if not index.is_complete():
        total = sum(1 for _ in default_snippets())
        index.build(default_snippets(), source="packaged: pubmedqa (PQA-A) + hpo", total=total, progress=progress, cancel=cancel)
    return index

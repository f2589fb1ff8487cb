"""Build (or resume) the default index from packaged medical text on first use."""

import threading

from medtui.core.rag.corpora.default import DEFAULT_CORPUS, DEFAULT_INDEX
from medtui.core.rag.index import Phase, Progress, SnippetIndex
from medtui.core.rag.manifest import BUILDING, COMPLETE, FORMAT, KEYWORD, MIGRATES
from medtui.core.rag.sources import PACKAGED, SourceSpec


def ensure_default_index(
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    dense: bool = True,
    phase: Phase | None = None,
) -> SnippetIndex:
    """The default index, built on first run and resumed if a build was interrupted: its keyword
    phase (seconds) always, its dense phase only with `dense` (else a caller finishes it in the
    background with `SnippetIndex.embed_pending`).

    It is made from packaged files only, so an index of an older corpus (DEFAULT_CORPUS), or of a
    format that cannot be migrated in place, is simply rebuilt.
    """
    index = SnippetIndex(DEFAULT_INDEX)
    if index.exists() and not _current_corpus(index):
        index.remove()
    state = index.manifest().state if index.exists() else None
    if state not in (KEYWORD, COMPLETE):
        index.add([SourceSpec("packaged", PACKAGED)], progress=progress, cancel=cancel, dense=False, phase=phase)
        manifest = index.manifest()
        manifest.sources[0]["corpus"] = DEFAULT_CORPUS
        manifest.write(index.manifest_path)
        state = KEYWORD
    if dense and state == KEYWORD:
        index.embed_pending(progress, cancel, phase=phase)
    return index


def _current_corpus(index: SnippetIndex) -> bool:
    """Whether the default index holds today's packaged corpus, in a format this medtui reads."""
    manifest = index.manifest()
    if manifest.format not in (FORMAT, *MIGRATES) or len(manifest.sources) != 1:
        return False
    entry = manifest.sources[0]
    # a build interrupted before its keyword phase ended has no corpus tag yet: resume it
    return entry.get("corpus") == DEFAULT_CORPUS or (manifest.state == BUILDING and manifest.format == FORMAT)

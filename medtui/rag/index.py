"""A named, persistent snippet index: chromadb for vectors, guarded by a manifest.

Building is resumable: snippets go in by stable id in batches, ids already present are
skipped, and the manifest turns "complete" only at the end. Opening refuses anything that
is missing, half-built, corrupt, or of another format, with the command that fixes it.
"""

import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

from medtui import paths
from medtui.errors import MedtuiError
from medtui.rag.embedder import DEFAULT_EMBEDDER, embed
from medtui.rag.manifest import BUILDING, COMPLETE, FORMAT, Manifest
from medtui.rag.snippet import Snippet

Progress = Callable[[int, int | None], None]  # (snippets done, total or None)
BATCH = 256


def index_dir(name: str) -> Path:
    return paths.indexes_dir() / name


def _client(path: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def _batches(items: Iterable[Snippet], size: int) -> Iterator[list[Snippet]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class Cancelled(Exception):
    """Raised inside a build when its cancel event is set; the index stays resumable."""


class SnippetIndex:
    def __init__(self, name: str, root: Path | None = None) -> None:
        self.name = name
        self.root = root or index_dir(name)
        self.manifest_path = self.root / "manifest.json"
        self._collection = None

    # -- state -----------------------------------------------------------------
    def exists(self) -> bool:
        return self.manifest_path.exists()

    def manifest(self) -> Manifest:
        if not self.exists():
            raise MedtuiError(f"index {self.name!r} not found in {self.root.parent}: build it first (the default one builds on first run)")
        return Manifest.read(self.manifest_path)

    def is_complete(self) -> bool:
        return self.exists() and self.manifest().state == COMPLETE

    def collection(self):
        if self._collection is None:
            try:
                self._collection = _client(self.root / "chroma").get_or_create_collection(
                    "snippets", embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
            except Exception as e:  # chromadb raises many types for a damaged store
                raise MedtuiError(f"index {self.name!r} at {self.root} is corrupt ({type(e).__name__}): delete that folder and rebuild it") from None
        return self._collection

    def open(self) -> "SnippetIndex":
        """Check the index may be served; raises a one-line error otherwise."""
        manifest = self.manifest()
        if manifest.format != FORMAT:
            raise MedtuiError(f"index {self.name!r} has format {manifest.format}, this medtui reads {FORMAT}: delete {self.root} and rebuild it")
        if manifest.state != COMPLETE:
            raise MedtuiError(f"index {self.name!r} is only partly built ({manifest.count} snippets): run the build again to resume it")
        try:
            count = self.collection().count()
        except MedtuiError:
            raise
        except Exception as e:
            raise MedtuiError(f"index {self.name!r} at {self.root} is corrupt ({type(e).__name__}): delete that folder and rebuild it") from None
        if count != manifest.count:
            raise MedtuiError(f"index {self.name!r} holds {count} snippets but its manifest says {manifest.count}: delete {self.root} and rebuild it")
        return self

    # -- building --------------------------------------------------------------
    def build(
        self,
        snippets: Iterable[Snippet],
        source: str,
        total: int | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        embedder: str = DEFAULT_EMBEDDER,
    ) -> Manifest:
        """Add snippets (resuming if a previous build stopped), then mark the index complete."""
        self.root.mkdir(parents=True, exist_ok=True)
        manifest = Manifest.read(self.manifest_path) if self.exists() else Manifest(self.name, embedder)
        if manifest.embedder != embedder:
            raise MedtuiError(f"index {self.name!r} was built with {manifest.embedder}, not {embedder}: use another name or rebuild it")
        manifest.state = BUILDING
        if source not in manifest.sources:
            manifest.sources.append(source)
        manifest.write(self.manifest_path)
        collection = self.collection()
        done = 0
        for batch in _batches(snippets, BATCH):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"indexing of {self.name!r} cancelled after {done} snippets; run it again to resume")
            batch = list({s.id: s for s in batch}.values())
            present = set(collection.get(ids=[s.id for s in batch], include=[])["ids"])
            new = [s for s in batch if s.id not in present]
            if new:
                collection.add(
                    ids=[s.id for s in new],
                    documents=[s.text for s in new],
                    metadatas=[s.metadata() for s in new],
                    embeddings=embed([s.text for s in new], embedder),
                )
            done += len(batch)
            manifest.count = collection.count()
            manifest.write(self.manifest_path)
            if progress:
                progress(done, total)
        manifest.count = collection.count()
        manifest.state = COMPLETE
        manifest.write(self.manifest_path)
        return manifest

    def remove(self) -> None:
        self._collection = None
        shutil.rmtree(self.root, ignore_errors=True)

    # -- reading ---------------------------------------------------------------
    def dense_search(self, query_vector: list[float], k: int) -> list[tuple[Snippet, float]]:
        result = self.collection().query(
            query_embeddings=[query_vector], n_results=k, include=["documents", "metadatas", "distances"]
        )
        hits = []
        for sid, doc, meta, dist in zip(
            result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
        ):
            snippet = Snippet(id=sid, title=str(meta["title"]), source=str(meta["source"]), text=doc, position=int(meta.get("position", 0)))
            hits.append((snippet, 1.0 - float(dist)))
        return hits

"""A named, persistent snippet index: chromadb vectors and a BM25 index, guarded by a manifest.

Building is resumable: snippets go in by stable id in batches, ids already present are
skipped (so re-adding a source duplicates nothing, and a rerun after Ctrl-C or a crash
continues where it stopped), and the manifest turns "complete" only once every snippet and
the BM25 index are in. Opening refuses anything missing, half-built, corrupt, or of another
format, with the command that fixes it.
"""

import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

from medtui.core import paths
from medtui.core.errors import MedtuiError
from medtui.core.rag.bm25 import Bm25Index, build_bm25
from medtui.core.rag.chunker import Chunker, ChunkSpec
from medtui.core.rag.embedder import DEFAULT_EMBEDDER, embed, load_embedder
from medtui.core.rag.manifest import BUILDING, COMPLETE, FORMAT, Manifest
from medtui.core.rag.snippet import Snippet
from medtui.core.rag.sources import SourceSpec, expected_documents, iter_documents, streamed

Progress = Callable[[int, int | None], None]  # (snippets done, total or None)
Encode = Callable[[list[str]], list[list[float]]]  # passage texts -> unit vectors
BATCH = 128  # snippets embedded and written at a time: the most a crash can cost
PAGE = 5000  # snippets read back at a time (to build BM25, or to iterate them)


def index_dir(name: str) -> Path:
    return paths.indexes_dir() / name


def list_indexes() -> list[str]:
    root = paths.indexes_dir()
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").exists()) if root.exists() else []


def _client(path: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def _drop_shared_client(path: Path) -> None:
    """Stop chromadb's process-wide client for `path`, whoever still holds it.

    chromadb shares one client per folder inside a process; before a store is wiped and
    rebuilt, that client must go, or the rebuilt store would be read through the stale one.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_refcount.pop(str(path), None)
    if (system := SharedSystemClient._identifier_to_system.pop(str(path), None)) is not None:
        system.stop()


def _batches(items: Iterable[Snippet], size: int) -> Iterator[list[Snippet]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class Cancelled(Exception):
    """Raised inside a build when its cancel event is set; the index stays resumable."""


class SnippetIndex:
    def __init__(self, name: str, root: Path | None = None) -> None:
        if not name or "/" in name or name.startswith("."):
            raise MedtuiError(f"{name!r} is not a valid index name: use letters, digits, '-' or '_'")
        self.name = name
        self.root = root or index_dir(name)
        self.manifest_path = self.root / "manifest.json"
        self._client = self._collection = None
        self._bm25: Bm25Index | None = None

    def _corrupt(self, e: Exception) -> MedtuiError:
        return MedtuiError(
            f"index {self.name!r} at {self.root} is corrupt ({type(e).__name__}): "
            f"run `medtui index rebuild {self.name}`"
        )

    # -- state -----------------------------------------------------------------
    def exists(self) -> bool:
        return self.manifest_path.exists()

    def manifest(self) -> Manifest:
        if not self.exists():
            raise MedtuiError(
                f"index {self.name!r} not found in {self.root.parent}: "
                f"build it with `medtui index add {self.name} SOURCE`"
            )
        return Manifest.read(self.manifest_path)

    def is_complete(self) -> bool:
        return self.exists() and self.manifest().state == COMPLETE

    def collection(self):
        if self._collection is None:
            try:
                self._client = _client(self.root / "chroma")
                self._collection = self._client.get_or_create_collection(
                    "snippets", embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
            except Exception as e:  # chromadb raises many types for a damaged store
                self.close()
                _drop_shared_client(self.root / "chroma")  # or the next open would reuse the broken one
                raise self._corrupt(e) from None
        return self._collection

    def close(self) -> None:
        """Release the chromadb client, so a wiped or rebuilt store is opened afresh."""
        if self._client is not None:
            self._client.close()
        self._client = self._collection = None

    def open(self) -> "SnippetIndex":
        """Check the index may be served, and load its BM25 half; a one-line error otherwise."""
        manifest = self.manifest()
        if manifest.format != FORMAT:
            raise MedtuiError(
                f"index {self.name!r} has format {manifest.format}, this medtui reads {FORMAT}: "
                f"run `medtui index rebuild {self.name}`"
            )
        if manifest.state != COMPLETE:
            raise MedtuiError(
                f"index {self.name!r} is only partly built ({manifest.count} snippets): "
                f"run `medtui index rebuild {self.name}` to resume it"
            )
        try:
            count = self.collection().count()
            self._bm25 = Bm25Index(self.root / "bm25")
        except MedtuiError:
            raise
        except Exception as e:
            raise self._corrupt(e) from None
        if count != manifest.count or len(self._bm25) != manifest.count:
            raise MedtuiError(
                f"index {self.name!r} holds {count} vectors and {len(self._bm25)} BM25 entries but its manifest says "
                f"{manifest.count}: run `medtui index rebuild {self.name}`"
            )
        return self

    # -- building --------------------------------------------------------------
    def _start(self, embedder: str, query_embedder: str, chunking: ChunkSpec | None) -> Manifest:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.exists():
            chunking = chunking or ChunkSpec()
            return Manifest(
                self.name, embedder, query_embedder, chunk_tokens=chunking.tokens, chunk_overlap=chunking.overlap
            )
        manifest = self.manifest()
        if manifest.format != FORMAT:
            raise MedtuiError(
                f"index {self.name!r} has format {manifest.format}: run `medtui index rebuild {self.name}` first"
            )
        if manifest.embedder != embedder:
            raise MedtuiError(
                f"index {self.name!r} was built with {manifest.embedder}, not {embedder}: use another index name"
            )
        if query_embedder and query_embedder != (manifest.query_embedder or manifest.embedder):
            raise MedtuiError(
                f"index {self.name!r} encodes queries with {manifest.query_embedder or manifest.embedder}: "
                "use another index name"
            )
        if chunking and (chunking.tokens, chunking.overlap) != (manifest.chunk_tokens, manifest.chunk_overlap):
            raise MedtuiError(
                f"index {self.name!r} chunks at {manifest.chunk_tokens} tokens with {manifest.chunk_overlap} overlap: "
                "drop the chunk flags or use another index name"
            )
        return manifest

    def add(
        self,
        specs: list[SourceSpec],
        chunking: ChunkSpec | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        embedder: str = DEFAULT_EMBEDDER,
        query_embedder: str = "",
        encode: Encode | None = None,
    ) -> Manifest:
        """Add sources (resuming whatever a previous run left), then mark the index complete.

        `encode` replaces the embedder, for benchmarks that time the write path on vectors
        computed beforehand."""
        manifest = self._start(embedder, query_embedder, chunking)
        manifest.state = BUILDING
        entries = []
        for spec in specs:
            entry = next((e for e in manifest.sources if SourceSpec.from_dict(_spec_fields(e)) == spec), None)
            if entry is None:
                entry = spec.to_dict()
                manifest.sources.append(entry)
            entry["state"] = BUILDING
            entries.append(entry)
        manifest.write(self.manifest_path)
        chunker = Chunker(
            load_embedder(manifest.embedder).tokenizer, ChunkSpec(manifest.chunk_tokens, manifest.chunk_overlap)
        )
        for spec, entry in zip(specs, entries):
            snippets: Iterable[Snippet] = (s for doc in iter_documents(spec) for s in chunker.chunk(doc))
            total = None
            if streamed(spec):
                total = expected_documents(spec) if spec.whole or spec.whole is None else None
            else:
                snippets = list(snippets)
                total = len(snippets)
            encoder = encode or (lambda texts: embed(texts, manifest.embedder))
            entry["snippets"] = self._insert(snippets, total, manifest, encoder, progress, cancel)
            entry["state"] = COMPLETE
            manifest.write(self.manifest_path)
        return self._finish(manifest)

    def _insert(
        self,
        snippets: Iterable[Snippet],
        total: int | None,
        manifest: Manifest,
        encode: Encode,
        progress: Progress | None,
        cancel: threading.Event | None,
    ) -> int:
        collection = self.collection()
        manifest.count = collection.count()
        done = 0
        if progress:
            progress(0, total)
        for batch in _batches(snippets, BATCH):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"indexing of {self.name!r} stopped after {done} snippets; run it again to resume")
            batch = list({s.id: s for s in batch}.values())
            present = set(collection.get(ids=[s.id for s in batch], include=[])["ids"])
            new = [s for s in batch if s.id not in present]
            if new:
                collection.add(
                    ids=[s.id for s in new],
                    documents=[s.text for s in new],
                    metadatas=[s.metadata() for s in new],
                    embeddings=encode([s.text for s in new]),
                )
            done += len(batch)
            manifest.count += len(new)
            manifest.write(self.manifest_path)
            if progress:
                progress(done, total)
        return done

    def _finish(self, manifest: Manifest) -> Manifest:
        """Build BM25 over every snippet, then (and only then) mark the index complete."""
        snippets = list(self.iter_snippets())
        manifest.bm25_count = build_bm25(self.root / "bm25", [s.id for s in snippets], [s.text for s in snippets])
        manifest.count = self.collection().count()
        manifest.state = COMPLETE
        manifest.write(self.manifest_path)
        return manifest

    def rebuild(self, progress: Progress | None = None, cancel: threading.Event | None = None) -> Manifest:
        """Replay the recorded sources: resume a partial build, or start over from a clean store."""
        manifest = self.manifest()
        specs = [SourceSpec.from_dict(_spec_fields(e)) for e in manifest.sources]
        if not specs:
            raise MedtuiError(
                f"index {self.name!r} records no sources it could replay: "
                f"`medtui index remove {self.name}`, then add its sources again"
            )
        resumable = manifest.format == FORMAT and manifest.state == BUILDING
        if resumable:
            try:
                self.collection().count()
            except MedtuiError:
                resumable = False
        if not resumable:
            self.close()
            _drop_shared_client(self.root / "chroma")
            shutil.rmtree(self.root / "chroma", ignore_errors=True)
            shutil.rmtree(self.root / "bm25", ignore_errors=True)
            fresh = Manifest(
                self.name,
                manifest.embedder or DEFAULT_EMBEDDER,
                manifest.query_embedder,
                chunk_tokens=manifest.chunk_tokens,
                chunk_overlap=manifest.chunk_overlap,
                created=manifest.created,
            )
            fresh.sources = [spec.to_dict() for spec in specs]
            fresh.write(self.manifest_path)
        return self.add(
            specs,
            progress=progress,
            cancel=cancel,
            embedder=manifest.embedder or DEFAULT_EMBEDDER,
            query_embedder=manifest.query_embedder,
        )

    def remove(self) -> None:
        self.close()
        _drop_shared_client(self.root / "chroma")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- reading ---------------------------------------------------------------
    def dense_search(self, query_vector: list[float], k: int) -> list[tuple[str, float]]:
        result = self.collection().query(query_embeddings=[query_vector], n_results=k, include=["distances"])
        return [(sid, 1.0 - float(dist)) for sid, dist in zip(result["ids"][0], result["distances"][0])]

    def bm25_search(self, query: str, k: int) -> list[tuple[str, float]]:
        if self._bm25 is None:
            self._bm25 = Bm25Index(self.root / "bm25")
        return self._bm25.search(query, k)

    def iter_snippets(self, batch: int = PAGE) -> Iterator[Snippet]:
        """Every snippet in the store, read `batch` at a time so a big index never sits in memory whole."""
        collection = self.collection()
        for offset in range(0, collection.count(), batch):
            got = collection.get(include=["documents", "metadatas"], limit=batch, offset=offset)
            for sid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                yield Snippet.from_record(sid, text, meta or {})

    def fetch(self, ids: list[str]) -> dict[str, Snippet]:
        if not ids:
            return {}
        got = self.collection().get(ids=list(dict.fromkeys(ids)), include=["documents", "metadatas"])
        return {
            sid: Snippet.from_record(sid, doc, meta)
            for sid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])
        }


def _spec_fields(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("state", "snippets")}

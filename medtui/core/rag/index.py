"""A named, persistent snippet index: chromadb vectors and a BM25 index, guarded by a manifest.

Building is resumable: snippets go in by stable id in batches, ids already present are
skipped (so re-adding a source duplicates nothing, and a rerun after Ctrl-C or a crash
continues where it stopped), and the manifest turns "complete" only once every snippet and
the BM25 index are in. Opening refuses anything missing, half-built, corrupt (a vector
segment that cannot hold what the manifest counts, too), or of another format, with the
command that fixes it; `verify` reads every vector back for the thorough check.
"""

import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from medtui.core import paths
from medtui.core.errors import MedtuiError
from medtui.core.rag.bm25 import Bm25Index, build_bm25
from medtui.core.rag.chunker import Chunker, ChunkSpec
from medtui.core.rag.corpora.report import SourceReport
from medtui.core.rag.embedder import DEFAULT_EMBEDDER, embed, load_embedder
from medtui.core.rag.integrity import DamagedVectors, held_vectors
from medtui.core.rag.manifest import BUILDING, COMPLETE, FORMAT, Manifest
from medtui.core.rag.snippet import Snippet
from medtui.core.rag.sources import KINDS, SourceSpec, expected_documents, iter_documents, streamed

Progress = Callable[[int, int | None], None]  # (snippets done, total or None)
Encode = Callable[[list[str]], list[list[float]]]  # passage texts -> unit vectors
BATCH = 128  # snippets embedded and written at a time: the most a crash can cost
PAGE = 5000  # snippets read back at a time (to build BM25, or to iterate them)
VECTOR_PAGE = 1000  # vectors read back at a time by `verify`
SELF_QUERIES = 100  # vectors `verify` searches for, each expected to find itself


def check_index_name(name: str) -> str:
    """An index name is one folder inside the indexes folder: never empty, only dots, hidden, or a path."""
    separators = {"/", "\0", os.sep} | ({os.altsep} if os.altsep else set())
    root = Path(os.path.normpath(paths.indexes_dir()))
    if (
        not name
        or name.startswith(".")
        or any(sep in name for sep in separators)
        or Path(os.path.normpath(root / name)).parent != root
    ):
        raise MedtuiError(f"{name!r} is not a valid index name: use letters, digits, '-' or '_'")
    return name


def index_dir(name: str) -> Path:
    return paths.indexes_dir() / check_index_name(name)


def _valid_name(name: str) -> bool:
    try:
        check_index_name(name)
    except MedtuiError:
        return False
    return True


def list_indexes() -> list[str]:
    root = paths.indexes_dir()
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").exists() and _valid_name(p.name))


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
        self.name = check_index_name(name)
        self.root = root or index_dir(name)
        self.manifest_path = self.root / "manifest.json"
        self._client = self._collection = None
        self._bm25: Bm25Index | None = None

    def _corrupt(self, e: Exception) -> MedtuiError:
        return MedtuiError(
            f"index {self.name!r} at {self.root} is corrupt ({type(e).__name__}): "
            f"run `medtui index rebuild {self.name}`"
        )

    def _damaged(self, problem: str) -> MedtuiError:
        return MedtuiError(
            f"index {self.name!r} has a damaged vector store ({problem}): run `medtui index rebuild {self.name}`"
        )

    def _unservable_format(self, manifest: Manifest) -> MedtuiError:
        """Another format: rebuild when its sources can be replayed, else remove and add them again."""
        if _replayable(manifest):
            return MedtuiError(
                f"index {self.name!r} has format {manifest.format}, this medtui reads {FORMAT}: "
                f"run `medtui index rebuild {self.name}`"
            )
        return self._unreplayable(manifest)

    def _unreplayable(self, manifest: Manifest) -> MedtuiError:
        if manifest.format > FORMAT:
            why = f"has format {manifest.format}, written by a newer medtui (this one reads {FORMAT}): upgrade, or"
        elif manifest.format != FORMAT:
            why = f"has format {manifest.format}, this medtui reads {FORMAT}, and records no sources it could replay:"
        else:
            why = "records no sources it could replay:"
        return MedtuiError(
            f"index {self.name!r} {why} run `medtui index remove {self.name}` then "
            f"`medtui index add {self.name} SOURCE...`"
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
        manifest = self._servable()
        try:
            held = self._held_vectors()
        except DamagedVectors as e:
            raise self._damaged(str(e)) from None
        if held != manifest.count:
            raise self._damaged(f"its vector segment holds {held} vectors, the manifest says {manifest.count}")
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

    def _held_vectors(self) -> int:
        """The vectors the store's vector segment holds, counted from its files and log before
        chromadb opens them (a few milliseconds: no vector is read; see integrity.py). Raises
        DamagedVectors for files that cannot hold them, the corrupt error for an unreadable store."""
        try:
            return held_vectors(self.root / "chroma")
        except DamagedVectors:
            raise
        except Exception as e:  # sqlite3.Error, OSError
            raise self._corrupt(e) from None

    def _servable(self) -> Manifest:
        """The manifest, if it says the index is complete and of this format."""
        manifest = self.manifest()
        if manifest.format != FORMAT:
            raise self._unservable_format(manifest)
        if manifest.state != COMPLETE:
            raise MedtuiError(
                f"index {self.name!r} is only partly built ({manifest.count} snippets): "
                f"run `medtui index rebuild {self.name}` to resume it"
            )
        return manifest

    def verify(self) -> list[str]:
        """The thorough check behind `medtui index verify`: every snippet in the store has its
        vector (read back, finite, not zero, and found by a search for a sample of them), the BM25
        ids are exactly the store's, and both count what the manifest says. Returns the problems
        found, none when the index may be served; a missing, partial or unreadable index raises."""
        manifest = self._servable()
        try:
            held = self._held_vectors()
        except DamagedVectors as e:  # files chromadb may crash on: read no further
            return [str(e)]
        problems = []
        if held != manifest.count:
            problems.append(f"its vector segment holds {held} vectors, the manifest says {manifest.count}")
        collection = self.collection()
        try:
            ids = [
                sid
                for offset in range(0, collection.count(), PAGE)
                for sid in collection.get(include=[], limit=PAGE, offset=offset)["ids"]
            ]
        except Exception as e:  # the SQLite half is unreadable: nothing more to check
            raise self._corrupt(e) from None
        if len(ids) != manifest.count:
            problems.append(f"the store holds {len(ids)} snippets, the manifest says {manifest.count}")
        return problems + self._check_bm25(set(ids), manifest) + self._check_vectors(ids)

    def _check_bm25(self, ids: set[str], manifest: Manifest) -> list[str]:
        try:
            bm25_ids = Bm25Index(self.root / "bm25").ids
        except Exception as e:  # bm25s and numpy raise many types for a damaged folder
            return [f"the BM25 index is unreadable ({type(e).__name__})"]
        problems = []
        if len(bm25_ids) != manifest.bm25_count:
            problems.append(f"BM25 holds {len(bm25_ids)} entries, the manifest says {manifest.bm25_count}")
        missing, extra = sorted(ids - set(bm25_ids)), sorted(set(bm25_ids) - ids)
        if missing:
            problems.append(f"{len(missing)} snippets have no BM25 entry (first: {missing[0]})")
        if extra:
            problems.append(f"{len(extra)} BM25 entries have no snippet (first: {extra[0]})")
        return problems

    def _check_vectors(self, ids: list[str]) -> list[str]:
        """Read every vector back, a page at a time; a page chromadb cannot serve is read id by id."""
        missing: list[str] = []
        bad: list[str] = []
        sample: dict[str, list[float]] = {}
        every = max(1, len(ids) // SELF_QUERIES)
        for start in range(0, len(ids), VECTOR_PAGE):
            page = ids[start : start + VECTOR_PAGE]
            vectors = self._vectors(page)
            if vectors is None:
                vectors = {}
                for sid in page:
                    vectors.update(self._vectors([sid]) or {})
            for n, sid in enumerate(page, start):
                vector = vectors.get(sid)
                if vector is None:
                    missing.append(sid)
                elif not np.isfinite(vector).all() or not vector.any():
                    bad.append(sid)
                elif n % every == 0:
                    sample[sid] = vector.tolist()
        problems = []
        if missing:
            problems.append(f"{len(missing)} of {len(ids)} vectors cannot be read (first: {missing[0]})")
        if bad:
            problems.append(f"{len(bad)} vectors are zero or not finite (first: {bad[0]})")
        if sample:  # each must find itself (or an identical twin: repeated passages share a vector) first
            nearest = self.collection().query(
                query_embeddings=list(sample.values()), n_results=1, include=["distances"]
            )
            lost = [sid for sid, distances in zip(sample, nearest["distances"]) if not distances or distances[0] > 1e-4]
            if lost:
                problems.append(
                    f"dense search does not find {len(lost)} of {len(sample)} sampled vectors (first: {lost[0]})"
                )
        return problems

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray] | None:
        """id -> vector for those chromadb can read; None when it fails on any of them."""
        try:
            got = self.collection().get(ids=ids, include=["embeddings"])
        except Exception:  # chromadb's "Error finding id" / "Error getting embedding" for a damaged segment
            return None
        return {sid: np.asarray(vector, dtype=np.float32) for sid, vector in zip(got["ids"], got["embeddings"])}

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
            raise self._unservable_format(manifest)
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
        try:
            self._held_vectors()  # chromadb may crash, not raise, on damaged vector files
        except DamagedVectors as e:
            raise self._damaged(str(e)) from None
        manifest.state = BUILDING
        entries = []
        for spec in specs:
            entry = source_entry(manifest, spec)
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
            report = SourceReport()
            snippets: Iterable[Snippet] = (s for doc in iter_documents(spec, report) for s in chunker.chunk(doc))
            total = None
            if streamed(spec):
                total = expected_documents(spec) if spec.whole or spec.whole is None else None
            else:
                snippets = list(snippets)
                total = len(snippets)
            encoder = encode or (lambda texts: embed(texts, manifest.embedder))
            entry["snippets"] = self._insert(snippets, total, manifest, encoder, progress, cancel)
            entry.update(report.to_dict())
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
        specs = _replayable(manifest)
        if not specs:
            raise self._unreplayable(manifest)
        resumable = manifest.format == FORMAT and manifest.state == BUILDING
        if resumable:  # on a store whose vectors match its snippets; anything else starts over
            try:
                resumable = self._held_vectors() == self.collection().count()
            except (DamagedVectors, MedtuiError):
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


def source_entry(manifest: Manifest, spec: SourceSpec) -> dict | None:
    """The manifest's record of `spec`: its state and what it gave (see sources.describe_source)."""
    return next((e for e in manifest.sources if SourceSpec.from_dict(e) == spec), None)


def _replayable(manifest: Manifest) -> list[SourceSpec]:
    """The sources a rebuild can replay; none when a source or the chunking does not read as this
    medtui's, or a newer medtui wrote the manifest (its fields may mean something else)."""
    if manifest.format > FORMAT:
        return []
    try:
        specs = [SourceSpec.from_dict(e) for e in manifest.sources]
        ChunkSpec(manifest.chunk_tokens, manifest.chunk_overlap)
    except (TypeError, ValueError):
        return []
    return specs if all(s.kind in KINDS and isinstance(s.location, str) for s in specs) else []

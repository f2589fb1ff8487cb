"""A named, persistent snippet index: a snippet store, a BM25 index and chromadb vectors,
guarded by a manifest, built in two resumable phases (docs/grounding.md, section 1).

1. keyword: every source is read and chunked once into the snippet store (`snippets.sqlite`,
   the one place snippet text and metadata live), then BM25 is built over it: state "keyword",
   served with BM25 only. Seconds for the default corpus.
2. dense: the snippets chromadb lacks are embedded into it in batches (`embed_pending`); once
   every snippet has its vector the state is "complete" and hybrid search is served.

Snippets go in by stable id in batches and ids already present are skipped, so re-adding a
source duplicates nothing and a rerun after Ctrl-C or a crash continues where it stopped.
Opening refuses anything missing, half-built (state "building"), corrupt (a vector segment
that cannot hold what the manifest counts, too), or of another format, with the command that
fixes it; a format-2 index (snippets kept in chromadb) is migrated in place on open. `verify`
reads every vector back for the thorough check.
"""

import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from itertools import islice
from pathlib import Path

import numpy as np

from medtui.core import paths
from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_file
from medtui.core.rag.bm25 import Bm25Index, Bm25Query, build_bm25
from medtui.core.rag.chunker import Chunker, ChunkSpec
from medtui.core.rag.corpora.report import SourceReport
from medtui.core.rag.embedder import DEFAULT_EMBEDDER, embed, load_embedder
from medtui.core.rag.gate import calibrated_gate
from medtui.core.rag.integrity import DamagedVectors, held_vectors
from medtui.core.rag.manifest import BUILDING, COMPLETE, FORMAT, KEYWORD, MIGRATES, SERVED, Manifest
from medtui.core.rag.snippet import Snippet
from medtui.core.rag.snippet_store import STORE, SnippetStore, remove_store, sidecars
from medtui.core.rag.sources import KINDS, SourceSpec, expected_documents, iter_documents, streamed

Progress = Callable[[int, int | None], None]  # (snippets done, total or None), restarting with each phase
Phase = Callable[[str], None]  # told KEYWORD or DENSE as each phase starts
DENSE = "dense"  # the phase name that goes with manifest.KEYWORD
Encode = Callable[[list[str]], list[list[float]]]  # passage texts -> unit vectors
BATCH = 128  # snippets stored, or embedded and written, at a time: the most a crash can cost
PAGE = 5000  # snippets read back at a time (to build BM25, to iterate them, to migrate)
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
        self.store_path = self.root / STORE
        self._client = self._collection = None
        self._store_handle: SnippetStore | None = None
        self._store_lock = threading.Lock()
        self._bm25: Bm25Index | None = None
        self._dense_ready = False
        self.migrated = ""  # what an in-place format migration did, for a caller to say once

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

    def _partly_built(self) -> MedtuiError:
        try:
            stored = self._store().count()
        except Exception:  # no store yet, or an unreadable one: the rebuild deals with it
            stored = 0
        return MedtuiError(
            f"index {self.name!r} is only partly built ({stored} snippets): "
            f"run `medtui index rebuild {self.name}` to resume it"
        )

    # -- state -----------------------------------------------------------------
    def exists(self) -> bool:
        return self.manifest_path.exists()

    def manifest(self) -> Manifest:
        """The manifest as written (an older format is not migrated here: see `open`)."""
        if not self.exists():
            raise MedtuiError(
                f"index {self.name!r} not found in {self.root.parent}: "
                f"build it with `medtui index add {self.name} SOURCE`"
            )
        return Manifest.read(self.manifest_path)

    def is_complete(self) -> bool:
        return self.exists() and self.manifest().state == COMPLETE

    @property
    def dense_ready(self) -> bool:
        """Every snippet has its vector (state complete): dense search may run. Until it is, each
        call reads the manifest again (a dense phase may finish in the background)."""
        if not self._dense_ready:
            try:
                self._dense_ready = self.exists() and self.manifest().dense_ready
            except MedtuiError:
                return False
        return self._dense_ready

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

    def _store(self, create: bool = False) -> SnippetStore:
        """The snippet store, opened once; raises FileNotFoundError or sqlite3.Error as they come
        (callers turn them into the corrupt error), and creates it only for a build."""
        with self._store_lock:
            if self._store_handle is None:
                if create:
                    self.root.mkdir(parents=True, exist_ok=True)
                self._store_handle = SnippetStore(self.store_path, create=create)
            return self._store_handle

    def _read_store(self) -> SnippetStore:
        try:
            return self._store()
        except Exception as e:  # FileNotFoundError, sqlite3.Error
            raise self._corrupt(e) from None

    def close(self) -> None:
        """Release chromadb's client and the snippet store, so a wiped or rebuilt index is opened afresh."""
        if self._client is not None:
            self._client.close()
        self._client = self._collection = None
        with self._store_lock:
            if self._store_handle is not None:
                self._store_handle.close()
            self._store_handle = None

    def open(self) -> "SnippetIndex":
        """Check the index may be served (state keyword or complete; an older format is migrated
        first), and load its BM25 half; a one-line error otherwise."""
        manifest = self._servable()
        try:
            held = self._held_vectors()
        except DamagedVectors as e:
            raise self._damaged(str(e)) from None
        complete = manifest.state == COMPLETE
        if complete and held != manifest.count:
            raise self._damaged(f"its vector segment holds {held} vectors, the manifest says {manifest.count}")
        try:
            stored = self._store().count()
            self._bm25 = Bm25Index(self.root / "bm25")
            vectors = self.collection().count() if complete else None
        except MedtuiError:
            raise
        except Exception as e:
            raise self._corrupt(e) from None
        entries = len(self._bm25)
        if complete and not vectors == stored == entries == manifest.count == manifest.bm25_count:
            raise MedtuiError(
                f"index {self.name!r} holds {vectors} vectors, {stored} snippets and {entries} BM25 entries but its "
                f"manifest says {manifest.count}: run `medtui index rebuild {self.name}`"
            )
        if not complete and not stored == entries == manifest.bm25_count:
            raise MedtuiError(
                f"index {self.name!r} holds {stored} snippets and {entries} BM25 entries but its manifest says "
                f"{manifest.bm25_count}: run `medtui index rebuild {self.name}`"
            )
        self._dense_ready = complete
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

    def _current(self) -> Manifest:
        """The manifest, after migrating an older format this medtui converts in place."""
        manifest = self.manifest()
        if manifest.format in MIGRATES:
            manifest = self._migrate(manifest)
        return manifest

    def _servable(self) -> Manifest:
        """The manifest, if it says the index may be served (keyword or complete) and is of this format."""
        manifest = self._current()
        if manifest.format != FORMAT:
            raise self._unservable_format(manifest)
        if manifest.state not in SERVED:
            raise self._partly_built()
        return manifest

    def _migrate(self, manifest: Manifest) -> Manifest:
        """Format 2 -> 3 in place: chromadb held the snippets' text and metadata; copy them into a
        snippet store written under a partial name and renamed into place, then (only then) write
        the manifest as format 3 with its state and counts. A kill at any point leaves a format-2
        index, migrated again on the next open; chromadb and BM25 are left as they are."""
        try:
            self._held_vectors()  # chromadb may crash, not raise, on damaged vector files
        except DamagedVectors as e:
            raise self._damaged(str(e)) from None
        collection = self.collection()
        with atomic_file(self.store_path) as partial:
            remove_store(partial)
            store = SnippetStore(partial, durable=False)
            try:
                for offset in range(0, collection.count(), PAGE):
                    got = collection.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
                    store.add(
                        Snippet.from_record(sid, text, meta or {})
                        for sid, text, meta in zip(got["ids"], got["documents"], got["metadatas"])
                    )
            except MedtuiError:
                raise
            except Exception as e:
                raise self._corrupt(e) from None
            finally:
                store.close()
            for sidecar in sidecars(self.store_path):  # none for a store nobody opened; never a stale one
                sidecar.unlink(missing_ok=True)
        old = manifest.format
        manifest.format = FORMAT
        manifest.write(self.manifest_path)
        self.migrated = (
            f"index {self.name!r} migrated from format {old} to {FORMAT}: its snippets now live in {self.store_path}"
        )
        return manifest

    def verify(self) -> list[str]:
        """The thorough check behind `medtui index verify`: the snippet store's ids are exactly
        BM25's; every vector chromadb holds is read back (finite, not zero, and found by a search
        for a sample of them), chromadb holds no id the store lacks and, once complete, one vector
        for each snippet; each part counts what the manifest says. Returns the problems found,
        none when the index may be served; a missing, partial or unreadable index raises."""
        manifest = self._servable()
        try:
            stored = list(self._store().ids())
        except Exception as e:
            raise self._corrupt(e) from None
        problems = []
        if len(stored) != manifest.bm25_count:
            problems.append(f"the snippet store holds {len(stored)} snippets, the manifest says {manifest.bm25_count}")
        store_ids = set(stored)
        problems += self._check_bm25(store_ids, manifest)
        try:
            held = self._held_vectors()
        except DamagedVectors as e:  # files chromadb may crash on: read no further
            return [*problems, str(e)]
        complete = manifest.state == COMPLETE
        if complete and held != manifest.count:
            problems.append(f"its vector segment holds {held} vectors, the manifest says {manifest.count}")
        try:
            ids = list(self._chroma_ids()) if complete or (self.root / "chroma").exists() else []
        except MedtuiError:
            raise
        except Exception as e:  # the SQLite half is unreadable: nothing more to check
            raise self._corrupt(e) from None
        if complete and len(ids) != manifest.count:
            problems.append(f"chromadb holds {len(ids)} vectors, the manifest says {manifest.count}")
        unembedded, strays = sorted(store_ids - set(ids)), sorted(set(ids) - store_ids)
        if complete and unembedded:
            problems.append(f"{len(unembedded)} snippets have no vector (first: {unembedded[0]})")
        if strays:
            problems.append(f"{len(strays)} vectors have no snippet in the store (first: {strays[0]})")
        return problems + self._check_vectors(ids)

    def _chroma_ids(self) -> Iterator[str]:
        collection = self.collection()
        for offset in range(0, collection.count(), PAGE):
            yield from collection.get(include=[], limit=PAGE, offset=offset)["ids"]

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
                self.name,
                embedder,
                query_embedder,
                chunk_tokens=chunking.tokens,
                chunk_overlap=chunking.overlap,
                gate=calibrated_gate(embedder).to_dict(),  # the index keeps the rules it was built under
            )
        manifest = self._current()
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
        dense: bool = True,
        phase: Phase | None = None,
    ) -> Manifest:
        """Add sources (resuming whatever a previous run left): the keyword phase reads and chunks
        them into the snippet store and builds BM25 (state keyword), then, with `dense`, the dense
        phase embeds what chromadb lacks (state complete; see `embed_pending`).

        `progress` gets (snippets stored, snippets of this source) through the keyword phase, then
        (snippets embedded, snippets in the store) through the dense phase; `phase` is told
        KEYWORD or DENSE as each starts. `encode` replaces the embedder, for benchmarks that time
        the write path on vectors computed beforehand."""
        manifest = self._start(embedder, query_embedder, chunking)
        try:
            self._held_vectors()  # chromadb may crash, not raise, on damaged vector files
        except DamagedVectors as e:
            raise self._damaged(str(e)) from None
        self._dense_ready = False
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
        if phase:
            phase(KEYWORD)
        chunker = Chunker(
            load_embedder(manifest.embedder).tokenizer, ChunkSpec(manifest.chunk_tokens, manifest.chunk_overlap)
        )
        try:
            store = self._store(create=True)
            for spec, entry in zip(specs, entries):
                report = SourceReport()
                snippets: Iterable[Snippet] = (s for doc in iter_documents(spec, report) for s in chunker.chunk(doc))
                total = None
                if streamed(spec):
                    total = expected_documents(spec) if spec.whole or spec.whole is None else None
                else:
                    snippets = list(snippets)
                    total = len(snippets)
                entry["snippets"] = self._store_snippets(store, snippets, total, progress, cancel)
                entry.update(report.to_dict())
                entry["state"] = KEYWORD
                manifest.write(self.manifest_path)
            manifest = self._finish_keyword(manifest, store)
        except sqlite3.Error as e:
            raise self._corrupt(e) from None
        if dense:
            manifest = self.embed_pending(progress, cancel, encode, phase)
        return manifest

    def _store_snippets(
        self,
        store: SnippetStore,
        snippets: Iterable[Snippet],
        total: int | None,
        progress: Progress | None,
        cancel: threading.Event | None,
    ) -> int:
        """Write a source's snippets into the store, a committed batch at a time; returns how many it gave."""
        done = 0
        if progress:
            progress(0, total)
        for batch in _batches(snippets, BATCH):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"indexing of {self.name!r} stopped after {done} snippets; run it again to resume")
            store.add(batch)
            done += len(batch)
            if progress:
                progress(done, total)
        return done

    def _finish_keyword(self, manifest: Manifest, store: SnippetStore) -> Manifest:
        """Build BM25 over every snippet in the store, then (and only then) mark the index keyword-servable."""
        ids: list[str] = []
        texts: list[str] = []
        for page in store.pages(PAGE):
            ids += [s.id for s in page]
            texts += [s.text for s in page]
        manifest.bm25_count = build_bm25(self.root / "bm25", ids, texts)
        self._bm25 = None  # a BM25 loaded before is stale now
        manifest.state = KEYWORD
        manifest.write(self.manifest_path)
        return manifest

    def embed_pending(
        self,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        encode: Encode | None = None,
        phase: Phase | None = None,
    ) -> Manifest:
        """The dense phase: embed the snippets chromadb does not hold yet, in store order and in
        batches of BATCH, writing the manifest's count after each; once chromadb holds every
        snippet the state turns complete. Resumable: a cancel (Cancelled) or a kill loses at most
        the batch in flight, and the index stays served with BM25 meanwhile. `progress` gets
        (snippets embedded, snippets in the store)."""
        manifest = self._current()
        if manifest.format != FORMAT:
            raise self._unservable_format(manifest)
        if manifest.state not in SERVED:
            raise self._partly_built()
        try:
            self._held_vectors()  # chromadb may crash, not raise, on damaged vector files
        except DamagedVectors as e:
            raise self._damaged(str(e)) from None
        if phase:
            phase(DENSE)
        store = self._read_store()
        collection = self.collection()
        try:
            total = store.count()
            manifest.count = collection.count()
            if progress:
                progress(manifest.count, total)
            if manifest.count < total:
                encoder = encode or (lambda texts: embed(texts, manifest.embedder))
                held = self._chroma_ids() if manifest.count else ()
                with closing(store.pending(held, BATCH)) as batches:
                    for batch in batches:
                        if cancel is not None and cancel.is_set():
                            raise Cancelled(
                                f"embedding of {self.name!r} stopped after {manifest.count} of {total} snippets "
                                "(keyword search serves it meanwhile); run it again to resume"
                            )
                        collection.add(
                            ids=[s.id for s in batch],
                            documents=[s.text for s in batch],
                            metadatas=[s.metadata() for s in batch],
                            embeddings=encoder([s.text for s in batch]),
                        )
                        manifest.count += len(batch)
                        manifest.write(self.manifest_path)
                        if progress:
                            progress(manifest.count, total)
            manifest.count = collection.count()
        except (MedtuiError, Cancelled):
            raise
        except sqlite3.Error as e:
            raise self._corrupt(e) from None
        if manifest.count != total:  # chromadb holds ids the store lacks
            raise MedtuiError(
                f"index {self.name!r} holds {manifest.count} vectors for {total} snippets: "
                f"run `medtui index rebuild {self.name}`"
            )
        manifest.state = COMPLETE
        for entry in manifest.sources:
            if entry.get("state") == KEYWORD:
                entry["state"] = COMPLETE
        manifest.write(self.manifest_path)
        self._dense_ready = True
        return manifest

    def _resumable(self, manifest: Manifest) -> bool:
        """A partial build whose parts agree: chromadb's vector files hold what its records say,
        the store reads and, past the keyword phase, matches BM25 and the manifest."""
        if manifest.format != FORMAT or manifest.state not in (BUILDING, KEYWORD):
            return False
        try:
            if manifest.state == KEYWORD:
                self.open()
                stored = self._store().count()
            else:
                stored = self._store(create=True).count()
            vectors = self.collection().count()
            # past the keyword phase chromadb holds only store snippets; more means ids the store lost
            return self._held_vectors() == vectors and (manifest.state == BUILDING or vectors <= stored)
        except (DamagedVectors, MedtuiError, sqlite3.Error, OSError):
            return False

    def rebuild(
        self, progress: Progress | None = None, cancel: threading.Event | None = None, phase: Phase | None = None
    ) -> Manifest:
        """Replay the recorded sources: resume a partial build (an index in state keyword goes
        straight to its dense phase), or start over from a clean folder."""
        manifest = self.manifest()
        if manifest.format in MIGRATES:
            try:
                manifest = self._migrate(manifest)
            except MedtuiError:  # a damaged older index starts over below
                self.close()
        specs = _replayable(manifest)
        if not specs:
            raise self._unreplayable(manifest)
        resumable = self._resumable(manifest)
        if resumable and manifest.state == KEYWORD:
            return self.embed_pending(progress, cancel, phase=phase)
        if not resumable:
            self.close()
            _drop_shared_client(self.root / "chroma")
            shutil.rmtree(self.root / "chroma", ignore_errors=True)
            shutil.rmtree(self.root / "bm25", ignore_errors=True)
            remove_store(self.store_path)
            self._bm25, self._dense_ready = None, False
            fresh = Manifest(
                self.name,
                manifest.embedder or DEFAULT_EMBEDDER,
                manifest.query_embedder,
                chunk_tokens=manifest.chunk_tokens,
                chunk_overlap=manifest.chunk_overlap,
                created=manifest.created,
                gate=calibrated_gate(manifest.embedder or DEFAULT_EMBEDDER).to_dict(),
            )
            fresh.sources = [spec.to_dict() for spec in specs]
            fresh.write(self.manifest_path)
        return self.add(
            specs,
            progress=progress,
            cancel=cancel,
            embedder=manifest.embedder or DEFAULT_EMBEDDER,
            query_embedder=manifest.query_embedder,
            phase=phase,
        )

    def remove(self) -> None:
        self.close()
        _drop_shared_client(self.root / "chroma")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- reading ---------------------------------------------------------------
    def dense_search(self, query_vector: list[float], k: int) -> list[tuple[str, float]]:
        if not self.dense_ready:
            raise MedtuiError(
                f"index {self.name!r} serves keyword search only until its dense phase finishes: "
                f"run `medtui index rebuild {self.name}`"
            )
        result = self.collection().query(query_embeddings=[query_vector], n_results=k, include=["distances"])
        return [(sid, 1.0 - float(dist)) for sid, dist in zip(result["ids"][0], result["distances"][0])]

    def _lexical(self) -> Bm25Index:
        if self._bm25 is None:
            self._bm25 = Bm25Index(self.root / "bm25")
        return self._bm25

    def bm25_search(self, query: str, k: int) -> list[tuple[str, float]]:
        return self._lexical().search(query, k)

    def document_share(self, words: list[str]) -> list[float]:
        """Each word's share of the snippets holding it (`Bm25Index.document_share`)."""
        return self._lexical().document_share(words)

    def bm25_query(self, query: str) -> Bm25Query:
        """The query's BM25 scores over every snippet (top k, any snippet's score, normalised)."""
        return self._lexical().query(query)

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """id -> unit passage vector for the ids chromadb holds (one get; ids not embedded yet are
        left out), so a caller can score passages BM25 found by their cosine with a query."""
        if not ids or not (self.root / "chroma").exists():  # nothing embedded yet: keep it so
            return {}
        try:
            got = self.collection().get(ids=list(dict.fromkeys(ids)), include=["embeddings"])
        except MedtuiError:
            raise
        except Exception as e:
            raise self._corrupt(e) from None
        found = {}
        for sid, vector in zip(got["ids"], got["embeddings"]):
            vector = np.asarray(vector, dtype=np.float32)
            norm = float(np.linalg.norm(vector))
            if norm > 0 and np.isfinite(norm):
                found[sid] = vector / norm
        return found

    def iter_snippets(self, batch: int = PAGE) -> Iterator[Snippet]:
        """Every snippet in the store, in the order it was added, read `batch` at a time so a big
        index never sits in memory whole."""
        try:
            for page in self._read_store().pages(batch):
                yield from page
        except sqlite3.Error as e:
            raise self._corrupt(e) from None

    def fetch(self, ids: list[str]) -> dict[str, Snippet]:
        if not ids:
            return {}
        try:
            return self._read_store().fetch(ids)
        except sqlite3.Error as e:
            raise self._corrupt(e) from None


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

"""The one place an index keeps its snippets' text and metadata: `snippets.sqlite` in its folder.

One row per snippet, in the order the keyword phase read them (`seq`), keyed by the snippet's
stable id: `INSERT OR IGNORE` makes a resumed or repeated add duplicate nothing. Each batch
is its own transaction (WAL, so a reader is never blocked by a build), so a killed build loses
at most the batch it was writing. The dense phase asks which snippets chromadb does not hold
yet (`pending`), in store order, a page at a time.
"""

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from medtui.core.rag.snippet import Snippet

STORE = "snippets.sqlite"
SIDECARS = ("-wal", "-shm", "-journal")  # files SQLite may keep beside the database
SCHEMA = 1  # PRAGMA user_version
LOOKUP = 500  # ids per `IN (...)` query: well under SQLite's variable limit


def sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in SIDECARS]


def remove_store(path: Path) -> None:
    """Delete a store and whatever SQLite kept beside it (nobody may hold it open)."""
    for file in [path, *sidecars(path)]:
        file.unlink(missing_ok=True)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class SnippetStore:
    """A snippet table in SQLite. One connection, shared by the threads of an index (a build
    worker and the answer worker), each call holding a lock for its statement."""

    def __init__(self, path: Path, create: bool = True, durable: bool = True) -> None:
        """Open (or, with `create`, make) the store at `path`. `durable=False` is for a store
        written once and renamed into place (a migration): no journal, no syncs."""
        if not create and not path.exists():
            raise FileNotFoundError(f"{path} is missing")
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        try:
            if durable:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # a killed process loses nothing committed
            else:
                self._db.execute("PRAGMA journal_mode=OFF")
                self._db.execute("PRAGMA synchronous=OFF")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS snippets ("
                    "seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL, metadata TEXT NOT NULL)"
                )
                self._db.execute(f"PRAGMA user_version = {SCHEMA}")
            elif version != SCHEMA:
                raise sqlite3.DatabaseError(f"{path} has schema {version}, this medtui reads {SCHEMA}")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, snippets: Iterable[Snippet]) -> int:
        """Insert a batch in one transaction; ids already present are left as they are.
        Returns how many rows were new."""
        rows = [(s.id, s.text, json.dumps(s.metadata(), ensure_ascii=False)) for s in snippets]
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR IGNORE INTO snippets (id, text, metadata) VALUES (?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM snippets").fetchone()[0]

    def fetch(self, ids: Iterable[str]) -> dict[str, Snippet]:
        """id -> snippet for the ids the store holds (the others are left out)."""
        found: dict[str, Snippet] = {}
        for chunk in _chunks(dict.fromkeys(ids), LOOKUP):
            with self._lock:
                rows = self._db.execute(
                    f"SELECT id, text, metadata FROM snippets WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            found.update((sid, _snippet(sid, text, meta)) for sid, text, meta in rows)
        return found

    def pages(self, size: int) -> Iterator[list[Snippet]]:
        """Every snippet in insertion order, `size` at a time (each page its own query)."""
        return self._pages("SELECT seq, id, text, metadata FROM snippets WHERE seq > ? ORDER BY seq LIMIT ?", size)

    def ids(self, size: int = 10_000) -> Iterator[str]:
        """Every id in insertion order."""
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, id FROM snippets WHERE seq > ? ORDER BY seq LIMIT ?", (last, size)
                ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield from (sid for _, sid in rows)

    def pending(self, held: Iterable[str], size: int) -> Iterator[list[Snippet]]:
        """The snippets whose id is not in `held`, in insertion order, `size` at a time.

        `held` (chromadb's ids, possibly millions) is loaded into a temporary table rather than
        kept in Python; the generator should be run to its end or closed."""
        table = f"held_{id(self):x}_{threading.get_ident():x}"
        with self._lock:
            self._db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY)")
            self._db.execute(f"DELETE FROM {table}")
        try:
            for chunk in _chunks(held, 10_000):
                with self._lock:
                    self._db.execute("BEGIN")
                    self._db.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?)", [(sid,) for sid in chunk])
                    self._db.execute("COMMIT")
            yield from self._pages(
                f"SELECT seq, id, text, metadata FROM snippets WHERE seq > ? "
                f"AND id NOT IN (SELECT id FROM {table}) ORDER BY seq LIMIT ?",
                size,
            )
        finally:
            with self._lock:
                try:
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
                except sqlite3.ProgrammingError:  # the store was closed meanwhile
                    pass

    def _pages(self, query: str, size: int) -> Iterator[list[Snippet]]:
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute(query, (last, size)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [_snippet(sid, text, meta) for _, sid, text, meta in rows]


def _snippet(sid: str, text: str, metadata: str) -> Snippet:
    return Snippet.from_record(sid, text, json.loads(metadata))

"""Conversations in SQLite (WAL), written as answers stream so a crash loses nothing shown.

The file and its WAL files are private (0600). A damaged database is found on open
(`PRAGMA quick_check`, or an empty file), kept as `history.sqlite3.damaged-<time>`, and
replaced by a fresh one; `History.notice` says so once.
"""

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from medtui.core import paths
from medtui.core.errors import MedtuiError
from medtui.core.records import MessageStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    source TEXT NOT NULL DEFAULT 'tui',  -- the front end that asked: tui | cli (`medtui ask`)
    settings TEXT NOT NULL DEFAULT '{}'  -- what answered: core.config.answer_settings() when it began
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    sources TEXT NOT NULL DEFAULT '[]',
    sentences TEXT NOT NULL DEFAULT '[]',  -- attribution: each sentence and the sources that support it
    status TEXT NOT NULL DEFAULT 'complete',  -- streaming | complete | cancelled | error
    model TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    notices TEXT NOT NULL DEFAULT '[]',  -- an answer's retrieval notices: what its Sources header said
    rag INTEGER  -- an answer's retrieval: 1 ran, 0 off, NULL not recorded (older rows)
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26  # result codes (sqlite3 names them from Python 3.11 only)


SOURCES = ("tui", "cli")  # who started a conversation: the chat app, or `medtui ask`
_CONVERSATION_COLUMNS = "id, title, model, updated, created, source, settings"


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    model: str
    updated: float
    created: float = 0.0
    source: str = "tui"
    settings: dict = field(default_factory=dict)  # core.config.answer_settings(); {} for older conversations

    @classmethod
    def from_row(cls, row: tuple) -> "Conversation":
        return cls(*row[:6], json.loads(row[6]))


@dataclass(frozen=True)
class Message:
    id: int
    role: str
    content: str
    sources: list[dict]
    status: MessageStatus
    model: str
    sentences: list[dict] = field(default_factory=list)  # medtui.core.rag.attribution.Sentence.to_dict()s
    created: float = 0.0  # seconds since the epoch
    notices: list[str] = field(default_factory=list)  # the retrieval's notices (keyword search only, …)
    rag: bool | None = None  # retrieval ran for this answer; None: not recorded (older rows, questions)


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    """Corruption or not a database at all, as opposed to a locked or unwritable one."""
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return str(error).startswith(("database disk image is malformed", "file is not a database"))


class _Damaged(Exception):
    """The database file is damaged; the message says how."""


class History:
    """The chat history. A damaged database is moved aside on open and a fresh one started;
    `notice` then says so, for the front end to show once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.history_db()
        self.notice: str | None = None
        self._lock = threading.Lock()  # the TUI writes from a worker thread and reads from the UI thread
        paths.private_dir(self.path.parent)
        try:
            self._db = self._open()
        except _Damaged as damage:
            self.notice = self._set_aside(str(damage))
            self._db = self._open()

    def _companions(self, path: Path) -> list[Path]:
        """The database file and the WAL files SQLite keeps beside it."""
        return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

    def _open(self) -> sqlite3.Connection:
        if self.path.exists() and self.path.stat().st_size == 0:  # medtui's database is never empty on disk
            raise _Damaged("the file is empty")
        for file in self._companions(self.path)[1:]:
            if file.exists():
                paths.private_file(file)
        paths.private_file(self.path)  # before SQLite opens it: its -wal and -shm take this file's mode
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            # reads every page: 0.3 s for a 165 MB history of 40,000 messages, 2 cores
            problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise _Damaged(problems[0])
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(SCHEMA)
            _add_missing_columns(db)
        except sqlite3.DatabaseError as e:
            db.close()
            if _is_damage(e):
                raise _Damaged(str(e)) from None
            raise MedtuiError(
                f"{self.path}: history database is unreadable ({e}): check the file and its folder"
            ) from None
        except _Damaged:
            db.close()
            raise
        return db

    def _set_aside(self, damage: str) -> str:
        """Rename the damaged file (and its WAL files) to `<name>.damaged-<time>`, kept for
        recovery, and say so in one line."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside, n = self.path.with_name(f"{self.path.name}.damaged-{stamp}"), 1
        while any(p.exists() for p in self._companions(aside)):  # never overwrite an earlier one
            aside, n = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}"), n + 1
        try:
            for file, target in zip(self._companions(self.path), self._companions(aside)):
                if file.exists():
                    file.rename(target)
        except OSError as e:
            raise MedtuiError(
                f"{self.path}: history database is damaged ({damage}) and cannot be moved aside ({e.strerror}): "
                "move it yourself to start fresh"
            ) from None
        return f"the chat history {self.path} was damaged ({damage}): kept it as {aside.name} and started a new one"

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one thread at a time; damage found after opening is a one-line error."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.DatabaseError as e:
                if _is_damage(e):
                    raise MedtuiError(
                        f"{self.path}: history database is damaged ({e}): restart medtui to set it aside"
                    ) from None
                raise

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._locked() as db:
            return db.execute(sql, args)

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._locked() as db:
            return db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- conversations ---------------------------------------------------------
    def new_conversation(self, title: str, model: str = "", source: str = "tui", settings: dict | None = None) -> int:
        """`source`: which front end asked (SOURCES), so `medtui ask`'s answers can be listed apart;
        `settings`: what answers it (core.config.answer_settings), kept for its export."""
        if source not in SOURCES:
            raise MedtuiError(f"conversation source {source!r} is not known: use one of {', '.join(SOURCES)}")
        now = time.time()
        return self._run(
            "INSERT INTO conversations(title, model, created, updated, source, settings) VALUES (?, ?, ?, ?, ?, ?)",
            (title, model, now, now, source, json.dumps(settings or {})),
        ).lastrowid

    def conversations(self, source: str | None = None) -> list[Conversation]:
        """Newest first; only `source`'s (SOURCES) when given."""
        where, args = ("WHERE source = ? ", (source,)) if source else ("", ())
        rows = self._rows(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations {where}ORDER BY updated DESC, id DESC", args
        )
        return [Conversation.from_row(row) for row in rows]

    def conversation(self, conversation_id: int) -> Conversation:
        rows = self._rows(f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,))
        if not rows:
            raise MedtuiError(f"conversation {conversation_id} not found")
        return Conversation.from_row(rows[0])

    def rename(self, conversation_id: int, title: str) -> None:
        title = title.strip()
        if not title:
            raise MedtuiError("a conversation title cannot be empty")
        self._run("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete(self, conversation_id: int) -> None:
        self._run("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # -- messages --------------------------------------------------------------
    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        sources: list[dict] | None = None,
        status: MessageStatus = MessageStatus.COMPLETE,
        model: str = "",
        notices: list[str] | None = None,
        rag: bool | None = None,
    ) -> int:
        """`notices` and `rag`: what an answer's retrieval said and whether it ran, so a reopened
        chat and its export tell what the live Sources panel told."""
        now = time.time()
        with self._locked() as db:
            cursor = db.execute(
                "INSERT INTO messages(conversation_id, role, content, sources, status, model, created, notices, rag) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    role,
                    content,
                    json.dumps(sources or []),
                    status,
                    model,
                    now,
                    json.dumps(notices or []),
                    rag,
                ),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return cursor.lastrowid

    def update_message(self, message_id: int, content: str, status: MessageStatus | None = None) -> None:
        if status is None:
            self._run("UPDATE messages SET content = ? WHERE id = ?", (content, message_id))
        else:
            self._run("UPDATE messages SET content = ?, status = ? WHERE id = ?", (content, status, message_id))

    def set_sentences(self, message_id: int, sentences: list[dict]) -> None:
        """Keep an answer's attribution, computed after it ended."""
        self._run("UPDATE messages SET sentences = ? WHERE id = ?", (json.dumps(sentences), message_id))

    def messages(self, conversation_id: int) -> list[Message]:
        rows = self._rows(
            "SELECT id, role, content, sources, status, model, sentences, created, notices, rag FROM messages "
            "WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        return [
            Message(
                r[0],
                r[1],
                r[2],
                json.loads(r[3]),
                _status(r[4], r[0]),
                r[5],
                json.loads(r[6]),
                r[7],
                json.loads(r[8]),
                None if r[9] is None else bool(r[9]),
            )
            for r in rows
        ]


# Columns added since the first release, each with the default that says what an old row means:
# no attribution, asked in the chat app (`medtui ask` kept none before), settings not recorded,
# no retrieval notices and retrieval not recorded.
_ADDED_COLUMNS = {
    "messages": [
        ("sentences", "TEXT NOT NULL DEFAULT '[]'"),
        ("notices", "TEXT NOT NULL DEFAULT '[]'"),
        ("rag", "INTEGER"),
    ],
    "conversations": [("source", "TEXT NOT NULL DEFAULT 'tui'"), ("settings", "TEXT NOT NULL DEFAULT '{}'")],
}


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a history written by an older medtui up to SCHEMA (`CREATE TABLE IF NOT EXISTS`
    leaves an old table as it was)."""
    for table, added in _ADDED_COLUMNS.items():
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, definition in added:
            if name not in columns:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")


def stamp(seconds: float) -> str:
    """A local date and time to the minute, as the History list and exports show them; "" for none."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else ""


def _status(word: str, message_id: int) -> MessageStatus:
    """A stored status; an unknown word (a newer medtui's, or a hand edit) shows as an error."""
    try:
        return MessageStatus(word)
    except ValueError:
        raise MedtuiError(f"{paths.history_db()}: message {message_id} has unknown status {word!r}") from None

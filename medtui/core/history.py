"""Conversations in SQLite (WAL), written as answers stream so a crash loses nothing shown."""

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from medtui.core import paths
from medtui.core.errors import MedtuiError

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    sources TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'complete',  -- streaming | complete | cancelled | error
    model TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    model: str
    updated: float


@dataclass(frozen=True)
class Message:
    id: int
    role: str
    content: str
    sources: list[dict]
    status: str
    model: str


class History:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.history_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # the TUI writes from a worker thread and reads from the UI thread
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise MedtuiError(
                f"{self.path}: history database is unreadable ({e}): move it aside to start fresh"
            ) from None

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- conversations ---------------------------------------------------------
    def new_conversation(self, title: str, model: str = "") -> int:
        now = time.time()
        return self._run(
            "INSERT INTO conversations(title, model, created, updated) VALUES (?, ?, ?, ?)", (title, model, now, now)
        ).lastrowid

    def conversations(self) -> list[Conversation]:
        rows = self._run(
            "SELECT id, title, model, updated FROM conversations ORDER BY updated DESC, id DESC"
        ).fetchall()
        return [Conversation(*row) for row in rows]

    def conversation(self, conversation_id: int) -> Conversation:
        row = self._run(
            "SELECT id, title, model, updated FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise MedtuiError(f"conversation {conversation_id} not found")
        return Conversation(*row)

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
        status: str = "complete",
        model: str = "",
    ) -> int:
        now = time.time()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO messages(conversation_id, role, content, sources, status, model, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, json.dumps(sources or []), status, model, now),
            )
            self._db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return cursor.lastrowid

    def update_message(self, message_id: int, content: str, status: str | None = None) -> None:
        if status is None:
            self._run("UPDATE messages SET content = ? WHERE id = ?", (content, message_id))
        else:
            self._run("UPDATE messages SET content = ?, status = ? WHERE id = ?", (content, status, message_id))

    def messages(self, conversation_id: int) -> list[Message]:
        rows = self._run(
            "SELECT id, role, content, sources, status, model FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ).fetchall()
        return [Message(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

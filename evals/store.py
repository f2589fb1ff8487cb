"""Every run in SQLite, every prediction in a JSONL file beside it.

A run's id is a hash of what determines its answers (model, task, source, mode, RAG, limit,
seed and the data fingerprint), so running the same thing again finds the interrupted run and
continues from its saved predictions instead of starting over.
"""

import hashlib
import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from evals.scoring import Prediction
from medtui import paths

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL, task TEXT NOT NULL, source TEXT NOT NULL, mode TEXT NOT NULL,
    rag INTEGER NOT NULL, limit_n INTEGER, seed INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    size INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, correct INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, started REAL NOT NULL, updated REAL NOT NULL
);
"""


@dataclass(frozen=True)
class RunKey:
    model: str
    task: str
    source: str
    mode: str
    rag: bool
    limit: int | None
    seed: int
    fingerprint: str

    @property
    def id(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    @property
    def method(self) -> str:
        return f"{self.model} · {self.mode}{' + RAG' if self.rag else ''}"


@dataclass(frozen=True)
class RunRow:
    key: RunKey
    size: int
    done: int
    correct: int
    invalid: int
    state: str
    updated: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.done if self.done else 0.0


class RunStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or paths.data_dir() / "evals"
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.root / "runs.sqlite3", check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def predictions_path(self, run_id: str) -> Path:
        return self.root / f"{run_id}.jsonl"

    def start(self, key: RunKey, size: int) -> list[Prediction]:
        """Create the run, or reopen it: returns the predictions already saved."""
        now = time.time()
        self.db.execute(
            "INSERT OR IGNORE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,0,0,0,'running',?,?)",
            (key.id, key.model, key.task, key.source, key.mode, int(key.rag), key.limit, key.seed, key.fingerprint, size, now, now),
        )
        self.db.execute("UPDATE runs SET state='running', updated=? WHERE id=?", (now, key.id))
        self.db.commit()
        path = self.predictions_path(key.id)
        if not path.exists():
            return []
        saved = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                saved.append(Prediction(**json.loads(line)))
            except (ValueError, TypeError):
                break  # a line cut by a crash: everything after it is redone
        return saved

    def save(self, run_id: str, predictions: list[Prediction]) -> None:
        with open(self.predictions_path(run_id), "a", encoding="utf-8") as f:
            for p in predictions:
                f.write(json.dumps(asdict(p)) + "\n")

    def update(self, run_id: str, predictions: list[Prediction], state: str) -> None:
        correct = sum(p.correct for p in predictions)
        invalid = sum(p.predicted is None for p in predictions)
        self.db.execute("UPDATE runs SET done=?, correct=?, invalid=?, state=?, updated=? WHERE id=?",
                        (len(predictions), correct, invalid, state, time.time(), run_id))
        self.db.commit()

    def runs(self) -> list[RunRow]:
        rows = self.db.execute(
            "SELECT model, task, source, mode, rag, limit_n, seed, fingerprint, size, done, correct, invalid, state, updated "
            "FROM runs ORDER BY updated"
        ).fetchall()
        return [RunRow(RunKey(m, t, src, mode, bool(rag), limit, seed, fp), *rest) for m, t, src, mode, rag, limit, seed, fp, *rest in rows]

    def predictions(self, run_id: str) -> list[Prediction]:
        path = self.predictions_path(run_id)
        if not path.exists():
            return []
        return [Prediction(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

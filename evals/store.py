"""Every run in SQLite, every prediction in a JSONL file beside it.

A run's id is a hash of what determines its answers (model name and the fingerprint of its
files, task, source, mode, RAG, limit, seed, the data fingerprint and that of the prompt), so
running the same thing again finds the interrupted run and continues from its saved predictions
instead of starting over, and a model retrained under the same name starts a new run.
"""

import hashlib
import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from evals.scoring import Prediction
from medtui.core import paths

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL, task TEXT NOT NULL, source TEXT NOT NULL, mode TEXT NOT NULL,
    rag INTEGER NOT NULL, limit_n INTEGER, seed INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    size INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, correct INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, started REAL NOT NULL, updated REAL NOT NULL,
    model_fingerprint TEXT NOT NULL DEFAULT '', prompt_fingerprint TEXT NOT NULL DEFAULT ''
);
"""
ADDED_COLUMNS = ("model_fingerprint", "prompt_fingerprint")  # absent from stores written before them
KEY_COLUMNS = "model, task, source, mode, rag, limit_n, seed, fingerprint, model_fingerprint, prompt_fingerprint"


@dataclass(frozen=True)
class RunKey:
    model: str
    task: str
    source: str
    mode: str
    rag: bool
    limit: int | None
    seed: int
    fingerprint: str  # the questions and answer key
    model_fingerprint: str = ""  # the model's files (medtui.core.model_fingerprint)
    prompt_fingerprint: str = ""  # the first question's prompt without sources: instruction and chat template

    @property
    def id(self) -> str:
        fields = {
            k: v for k, v in asdict(self).items() if not (k in ADDED_COLUMNS and v == "")
        }  # older runs keep their ids
        return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]

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
        present = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
        for column in ADDED_COLUMNS:
            if column not in present:
                self.db.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
        self.db.commit()

    def predictions_path(self, run_id: str) -> Path:
        return self.root / f"{run_id}.jsonl"

    def start(self, key: RunKey, size: int) -> list[Prediction]:
        """Create the run, or reopen it: returns the predictions already saved."""
        now = time.time()
        self.db.execute(
            f"INSERT OR IGNORE INTO runs (id, {KEY_COLUMNS}, size, state, started, updated) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'running',?,?)",
            (
                key.id,
                key.model,
                key.task,
                key.source,
                key.mode,
                int(key.rag),
                key.limit,
                key.seed,
                key.fingerprint,
                key.model_fingerprint,
                key.prompt_fingerprint,
                size,
                now,
                now,
            ),
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
        self.db.execute(
            "UPDATE runs SET done=?, correct=?, invalid=?, state=?, updated=? WHERE id=?",
            (len(predictions), correct, invalid, state, time.time(), run_id),
        )
        self.db.commit()

    def runs(self) -> list[RunRow]:
        rows = self.db.execute(
            f"SELECT {KEY_COLUMNS}, size, done, correct, invalid, state, updated FROM runs ORDER BY updated"
        ).fetchall()
        return [RunRow(RunKey(*row[:4], bool(row[4]), *row[5:10]), *row[10:]) for row in rows]

    def predictions(self, run_id: str) -> list[Prediction]:
        path = self.predictions_path(run_id)
        if not path.exists():
            return []
        return [
            Prediction(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]

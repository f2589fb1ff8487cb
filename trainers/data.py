"""Read training rows from wherever they live, counting the bad ones instead of crashing.

A source is a Hub dataset id (real `datasets` loading code), a folder saved with
`Dataset.save_to_disk`, a local JSONL/CSV file (gzip too), a `.txt`/`.md` file or a folder of
such files, or `index:NAME` (the snippets of a medtui retrieval index, for continual
pretraining). Rows that are not JSON objects or lack a field are counted in a `DataReport`
and skipped, so one bad line never costs a run.
"""

import csv
import gzip
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.rag.corpora.hf_dataset import is_saved_dataset, open_dataset
from medtui.core.registry import is_hub_id

TABLE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".csv", ".csv.gz", ".tsv")
TEXT_SUFFIXES = (".txt", ".md")
QUESTION_FIELDS = ("Question", "question", "instruction", "input", "prompt")
REASONING_FIELDS = ("Complex_CoT", "reasoning", "cot", "thinking", "rationale")
ANSWER_FIELDS = ("Response", "response", "answer", "output", "completion")
TEXT_FIELDS = ("contents", "content", "text", "passage", "abstract", "body")
Screen = Callable[[dict], str | None]  # a row -> the benchmark it repeats, or None


@dataclass
class DataReport:
    """Rows read and why some were left out: shown before a run and kept in run.json."""

    read: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> rows: malformed, missing_fields, too_long, benchmark
    examples: dict[str, str] = field(default_factory=dict)  # reason -> where the first such row was

    def drop(self, reason: str, where: str) -> None:
        self.dropped[reason] += 1
        self.examples.setdefault(reason, where)

    @property
    def kept(self) -> int:
        return self.read - sum(self.dropped.values())

    def to_dict(self) -> dict:
        return {"read": self.read, "kept": self.kept, "dropped": dict(self.dropped), "first_dropped": self.examples}

    def describe(self) -> str:
        why = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(self.dropped.items()))
        return f"{self.kept} of {self.read} rows kept" + (f" (left out: {why})" if why else "")


@dataclass(frozen=True)
class SftRow:
    question: str
    reasoning: str  # empty when the data has none
    answer: str
    where: str  # file:line or dataset:row, for reports


def _open_text(path: Path):
    return (
        gzip.open(path, "rt", encoding="utf-8", newline="")
        if path.suffix == ".gz"
        else open(path, encoding="utf-8", newline="")
    )


def _table_rows(path: Path, report: DataReport) -> Iterator[tuple[str, dict]]:
    """(where, row) for each JSON object line or CSV row; malformed lines are counted."""
    name = path.name.lower().removesuffix(".gz")
    try:
        with _open_text(path) as f:
            if name.endswith((".csv", ".tsv")):
                for n, row in enumerate(csv.DictReader(f, delimiter="\t" if name.endswith(".tsv") else ","), 2):
                    yield f"{path}:{n}", row
                return
            if name.endswith(".json"):
                rows = json.load(f)
                if not isinstance(rows, list):
                    raise MedtuiError(f"{path}: expected a JSON list of objects (or use JSONL)")
                lines: Iterator = ((n, row) for n, row in enumerate(rows, 1))
            else:
                lines = ((n, line) for n, line in enumerate(f, 1) if line.strip())
            for n, line in lines:
                try:
                    row = json.loads(line) if isinstance(line, str) else line
                except json.JSONDecodeError:
                    row = None
                if not isinstance(row, dict):
                    report.read += 1
                    report.drop("malformed", f"{path}:{n}")
                    continue
                yield f"{path}:{n}", row
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, json.JSONDecodeError) as e:
        raise MedtuiError(
            f"{path}: unreadable ({type(e).__name__}): expected UTF-8 JSONL or CSV, optionally gzipped"
        ) from None


def _files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(TABLE_SUFFIXES + TEXT_SUFFIXES)
    )


def _hf_rows(location: str, subset: str | None, split: str, limit: int | None) -> Iterator[tuple[str, dict]]:
    """A saved dataset or a Hub id (streamed, so --limit reads only what it needs)."""
    rows, _ = open_dataset(location, split, subset)
    for n, row in enumerate(islice(rows, limit)):
        yield f"{location}:{n}", dict(row)


def iter_rows(
    source: str, report: DataReport, subset: str | None = None, split: str = "train", limit: int | None = None
) -> Iterator[tuple[str, dict]]:
    """(where, row) from any table-like source; .txt/.md files give one {"text": ...} row each."""
    if source.startswith("index:"):
        yield from islice(_index_rows(source.removeprefix("index:")), limit)
        return
    path = Path(source).expanduser()
    if is_saved_dataset(path):
        rows: Iterator = _hf_rows(str(path), subset, split, None)
    elif path.is_dir():
        files = _files(path)
        if not files:
            raise MedtuiError(f"{path}: no .jsonl, .csv, .txt or .md files in this folder")
        rows = (r for f in files for r in _file_rows(f, report))
    elif path.is_file():
        rows = _file_rows(path, report)
    elif is_hub_id(source):
        rows = _hf_rows(source, subset, split, limit)
    else:
        raise MedtuiError(
            f"dataset {source!r} not found: give a JSONL/CSV/.txt file, a folder, index:NAME or a Hub id like org/name"
        )
    yield from islice(rows, limit)


def _file_rows(path: Path, report: DataReport) -> Iterator[tuple[str, dict]]:
    if path.name.lower().endswith(TEXT_SUFFIXES):
        try:
            yield str(path), {"text": path.read_text(encoding="utf-8")}
        except UnicodeDecodeError as e:
            raise MedtuiError(f"{path}: not valid UTF-8 (byte {e.start}): re-save the file as UTF-8") from None
    elif path.name.lower().endswith(TABLE_SUFFIXES):
        yield from _table_rows(path, report)
    else:
        raise MedtuiError(f"{path}: not a dataset file: use .jsonl, .json, .csv (optionally .gz), .txt or .md")


def _index_rows(name: str) -> Iterator[tuple[str, dict]]:
    """Every snippet of a complete retrieval index, in pages, as {"text": title + text}."""
    from medtui.core.rag.index import SnippetIndex

    index = SnippetIndex(name).open()
    collection, page = index.collection(), 1000
    try:
        for offset in range(0, collection.count(), page):
            got = collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
            for sid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                title = str((meta or {}).get("title") or "")
                yield f"index:{name}:{sid}", {"text": f"{title}\n{text}" if title else text}
    finally:
        index.close()


def pick_field(
    columns: list[str],
    given: str | None,
    guesses: tuple[str, ...],
    what: str,
    flag: str,
    source: str,
    required: bool = True,
) -> str | None:
    """The column to read: the one given (which must exist), else the first known name present."""
    if given:
        if given not in columns:
            raise MedtuiError(f"{source}: no {what} field {given!r}; fields are {', '.join(columns)}")
        return given
    found = next((c for c in guesses if c in columns), None)
    if found is None and required:
        raise MedtuiError(f"{source}: no {what} field among {', '.join(columns)}: pass {flag}")
    return found


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def sft_rows(
    source: str,
    report: DataReport,
    question: str | None = None,
    reasoning: str | None = None,
    answer: str | None = None,
    subset: str | None = None,
    split: str = "train",
    limit: int | None = None,
    screen: Screen | None = None,
) -> Iterator[SftRow]:
    """Question / reasoning / answer rows; rows missing the question or the answer, or repeating
    a benchmark test item (`screen`), are counted and skipped."""
    fields_: tuple[str | None, str | None, str | None] | None = None
    for where, row in iter_rows(source, report, subset, split, limit):
        report.read += 1
        if fields_ is None:
            columns = list(row)
            fields_ = (
                pick_field(columns, question, QUESTION_FIELDS, "question", "--question-field", source),
                pick_field(
                    columns, reasoning, REASONING_FIELDS, "reasoning", "--reasoning-field", source, required=False
                ),
                pick_field(columns, answer, ANSWER_FIELDS, "answer", "--answer-field", source),
            )
        q_field, r_field, a_field = fields_
        q, a = _text(row.get(q_field)), _text(row.get(a_field))
        if not q or not a:
            report.drop("missing_fields", where)
            continue
        if screen and screen(row):
            report.drop("benchmark", where)
            continue
        yield SftRow(q, _text(row.get(r_field)) if r_field else "", a, where)


def corpus_texts(
    source: str,
    report: DataReport,
    text_field: str | None = None,
    subset: str | None = None,
    split: str = "train",
    limit: int | None = None,
    screen: Screen | None = None,
) -> Iterator[tuple[str, str]]:
    """(where, text) documents for continual pretraining; empty or non-text rows are counted."""
    column: str | None = None
    for where, row in iter_rows(source, report, subset, split, limit):
        report.read += 1
        if column is None:
            column = pick_field(list(row), text_field, TEXT_FIELDS, "text", "--text-field", source)
        text = _text(row.get(column))
        if not text:
            report.drop("missing_fields", where)
            continue
        if screen and screen(row):
            report.drop("benchmark", where)
            continue
        yield where, text

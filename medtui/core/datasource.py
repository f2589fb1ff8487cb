"""Rows from wherever a table lives: JSONL, JSON, CSV/TSV and parquet files (each optionally
gzipped), folders saved with `datasets`' `save_to_disk`, and Hugging Face Hub dataset ids.

Indexing, training and evals all read through here, so a file one of them accepts the others
accept too, and bad input is treated the same everywhere: a row that cannot be parsed is counted
in a `DataReport` when the caller keeps one (training skips it and says so), and is otherwise a
one-line `MedtuiError` naming the file and line; a file that cannot be read at all always is.
"""

import csv
import gzip
import json
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from medtui.core import hub
from medtui.core.errors import MedtuiError
from medtui.core.registry import is_hub_id

TABLE_SUFFIXES = tuple(s + gz for s in (".jsonl", ".json", ".csv", ".tsv", ".parquet") for gz in ("", ".gz"))
SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
TEXT_FIELDS = ("content", "text", "contents", "passage", "abstract", "body", "context", "answer")
TITLE_FIELDS = ("title", "name", "focus", "question")
ID_FIELDS = ("id", "uid", "_id", "doc_id", "pmid", "pubid")
PARQUET_BATCH = 1024  # rows decoded at a time, so a big file never sits in memory whole

Row = tuple[str, dict]  # (where it came from, for messages: "file:line", "file row N" or "dataset:N"; the row)


@dataclass
class DataReport:
    """Rows read and why some were left out: shown before a training run and kept in run.json."""

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
class _Malformed:
    """A row that could not be parsed, and what to tell the user about it."""

    problem: str


Parsed = tuple[str, dict | _Malformed]

# -- what a location is ---------------------------------------------------------


def is_table(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(TABLE_SUFFIXES)


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in SAVED_MARKERS)


# -- local files ----------------------------------------------------------------


def _open_text(path: Path):
    """UTF-8, with or without the byte-order mark spreadsheet exports put before the header."""
    return (
        gzip.open(path, "rt", encoding="utf-8-sig", newline="")
        if path.suffix.lower() == ".gz"
        else open(path, encoding="utf-8-sig", newline="")
    )


def _json_lines(lines: Iterable[str], path: Path) -> Iterator[Parsed]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            yield f"{path}:{n}", _Malformed(f"not a JSON line ({e.msg}): fix or remove that line")
            continue
        yield f"{path}:{n}", row if isinstance(row, dict) else _Malformed("each line must be a JSON object")


def _json(text: str, path: Path) -> Iterator[Parsed]:
    """A JSON array of objects, or an object holding one list of them (`{"data": [...]}`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" and text.lstrip().startswith("{"):  # JSON Lines under a .json name
            yield from _json_lines(text.splitlines(), path)
            return
        raise MedtuiError(f"{path}:{e.lineno}: not valid JSON ({e.msg}): fix the file") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise MedtuiError(
                f"{path}: expected a JSON array of objects, or an object holding one list of them "
                f"(this object holds {len(lists)} lists): reshape it, or write one object per line as JSONL"
            )
        data = lists[0]
    if not isinstance(data, list):
        raise MedtuiError(f"{path}: expected a JSON array of objects, not a {type(data).__name__}")
    for n, item in enumerate(data, 1):
        yield f"{path} row {n}", item if isinstance(item, dict) else _Malformed("not a JSON object")


def _csv(lines: Iterable[str], path: Path, delimiter: str, columns: Sequence[str] | None) -> Iterator[Parsed]:
    """Rows named by the header (or by `columns`), each placed at the line it starts on."""
    reader = csv.DictReader(lines, fieldnames=columns, delimiter=delimiter)
    try:
        width = len(reader.fieldnames or ())  # reads the header, so line numbers below start after it
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return
            where = f"{path}:{start}"
            if None in row or None in row.values():  # DictReader's marks for too many or too few cells
                cells = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None, ()))
                yield where, _Malformed(f"{cells} cells where there are {width} columns: fix that line")
            else:
                yield where, row
    except csv.Error as e:
        raise MedtuiError(f"{path}:{reader.line_num}: not valid CSV ({e}): fix that line") from None


def _parquet(path: Path) -> Iterator[Row]:
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        raise MedtuiError(f"{path}: reading parquet needs pyarrow: pip install pyarrow") from None
    n = 0
    try:
        with gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb") as f:
            for batch in pq.ParquetFile(f).iter_batches(PARQUET_BATCH):
                for row in batch.to_pylist():
                    n += 1
                    yield f"{path} row {n}", row
    except pyarrow.ArrowException as e:
        raise MedtuiError(f"{path}: not a readable parquet file ({str(e)[:120]}): re-export it") from None


def _parse(path: Path, columns: Sequence[str] | None) -> Iterator[Parsed]:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        yield from _parquet(path)
        return
    with _open_text(path) as f:
        if name.endswith((".csv", ".tsv")):
            yield from _csv(f, path, "\t" if name.endswith(".tsv") else ",", columns)
        elif name.endswith(".json"):
            yield from _json(f.read(), path)
        else:
            yield from _json_lines(f, path)


def iter_file(path: Path, report: DataReport | None = None, columns: Sequence[str] | None = None) -> Iterator[Row]:
    """(where, row) for each row of a local table file, in file order.

    With a `report`, every row read is counted and malformed ones are dropped into it; without
    one, the first malformed row is a MedtuiError naming its file and line. `columns` names the
    columns of a headerless CSV."""
    if not path.is_file():
        raise MedtuiError(f"{path}: file not found")
    if not path.name.lower().endswith(TABLE_SUFFIXES):
        raise MedtuiError(f"{path}: not a table: use .jsonl, .json, .csv, .tsv or .parquet, optionally gzipped")
    try:
        for where, row in _parse(path, columns):
            if report is not None:
                report.read += 1
            if not isinstance(row, _Malformed):
                yield where, row
            elif report is None:
                raise MedtuiError(f"{where}: {row.problem}")
            else:
                report.drop("malformed", where)
    except UnicodeDecodeError:
        raise MedtuiError(f"{path}: not valid UTF-8 text: re-save it as UTF-8") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise MedtuiError(f"{path}: damaged or truncated gzip data ({type(e).__name__}): re-compress it") from None
    except OSError as e:
        raise MedtuiError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None


def read_rows(path: Path, columns: Sequence[str] | None = None) -> list[dict]:
    """Every row of a local table file; any malformed row is a MedtuiError."""
    return [row for _, row in iter_file(path, columns=columns)]


# -- datasets: saved folders and the Hub ----------------------------------------


def open_dataset(location: str, split: str = "train", subset: str | None = None) -> tuple[Iterable[dict], int | None]:
    """(rows, count or None) of a folder saved with `datasets` or a Hub id (streamed)."""
    import datasets

    datasets.disable_progress_bars()
    path = Path(location)
    if not path.exists():
        return _open_hub(location, split, subset)
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as e:  # datasets and pyarrow raise many types for a damaged folder
        raise MedtuiError(
            f"{path}: unreadable saved dataset ({type(e).__name__}: {str(e)[:120]}): save it again"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise MedtuiError(f"{path}: no split {split!r}; it has {', '.join(loaded)}: pass --split")
        loaded = loaded[split]
    return loaded, len(loaded)


@lru_cache(maxsize=4)
def _open_hub(location: str, split: str, subset: str | None):
    """Resolved once per process: the progress total and the rows come from the same stream
    (iterating it again restarts it), so the Hub is not asked twice."""
    import datasets

    unreachable = hub.check()
    try:
        stream = datasets.load_dataset(location, subset, split=split, streaming=True)
    except Exception as e:  # the Hub client raises many types: offline, not found, gated, no such config
        if unreachable:
            fix = "download it on a connected machine, save it with `datasets` and pass the folder"
            raise hub.unreachable_error(unreachable, f"dataset {location!r}", fix) from None
        raise MedtuiError(
            f"cannot load dataset {location!r}{f' ({subset})' if subset else ''} from the Hugging Face Hub "
            f"({type(e).__name__}: {str(e)[:120]}): check the id, the subset and your connection, or save it with "
            "`datasets` and pass the folder"
        ) from None
    total = None
    if stream.info and stream.info.splits and split in stream.info.splits:
        total = stream.info.splits[split].num_examples or None
    return stream, total


def iter_rows(
    source: str | Path, report: DataReport | None = None, split: str = "train", subset: str | None = None
) -> Iterator[Row]:
    """(where, row) from a local table file, a saved dataset folder or a Hub dataset id; a report
    works as in `iter_file` (dataset rows are always well formed, so it only counts them)."""
    path = Path(source).expanduser()
    if path.is_file():
        yield from iter_file(path, report)
        return
    if is_saved_dataset(path):
        location = str(path)
    elif not path.exists() and is_hub_id(str(source)):
        location = str(source)
    else:
        raise MedtuiError(
            f"{source}: not found: give a JSONL, JSON, CSV or parquet file, a folder saved with `datasets`, "
            "or a Hub dataset id like org/name"
        )
    rows, _ = open_dataset(location, split, subset)
    for n, row in enumerate(rows):
        if report is not None:
            report.read += 1
        yield f"{location}:{n}", dict(row)


# -- which column is which ------------------------------------------------------


@dataclass(frozen=True)
class Fields:
    text: str
    title: str | None
    id: str | None


def pick_field(
    columns: Sequence[str],
    given: str | None,
    guesses: Sequence[str],
    what: str,
    flag: str,
    origin: str,
    required: bool = True,
) -> str | None:
    """The column to read: the one given (which must exist), else the first known name present."""
    if given:
        if given not in columns:
            raise MedtuiError(f"{origin}: no {what} column {given!r}; fields are {', '.join(columns)}")
        return given
    found = next((c for c in guesses if c in columns), None)
    if found is None and required:
        raise MedtuiError(f"{origin}: no {what} column found among {', '.join(columns)}: pass {flag}")
    return found


def pick_fields(columns: Sequence[str], text: str | None, title: str | None, id_: str | None, origin: str) -> Fields:
    """The text, title and id columns of a document table, given or guessed."""
    return Fields(
        pick_field(columns, text, TEXT_FIELDS, "text", "--text-field", origin),
        pick_field(columns, title, TITLE_FIELDS, "title", "--title-field", origin, required=False),
        pick_field(columns, id_, ID_FIELDS, "id", "--id-field", origin, required=False),
    )

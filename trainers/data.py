"""Read training rows from wherever they live, counting the bad ones instead of crashing.

A source is anything `medtui.core.datasource` reads (a Hub dataset id, a folder saved with
`Dataset.save_to_disk`, a JSONL/JSON/CSV/parquet file, gzip too), a `.txt`/`.md` file or a folder
of such files and tables, or `index:NAME` (the snippets of a medtui retrieval index, for
continual pretraining). Rows that are not JSON objects or lack a field are counted in a
`DataReport` and skipped, so one bad line never costs a run.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from medtui.core import datasource
from medtui.core.datasource import TABLE_SUFFIXES, DataReport, Row, pick_field
from medtui.core.errors import MedtuiError
from medtui.core.registry import is_hub_id
from medtui.core.text import read_utf8

TEXT_SUFFIXES = (".txt", ".md")
QUESTION_FIELDS = ("Question", "question", "instruction", "input", "prompt")
REASONING_FIELDS = ("Complex_CoT", "reasoning", "cot", "thinking", "rationale")
ANSWER_FIELDS = ("Response", "response", "answer", "output", "completion")
TEXT_FIELDS = ("contents", "content", "text", "passage", "abstract", "body")
Screen = Callable[[dict], str | None]  # a row -> the benchmark it repeats, or None


@dataclass(frozen=True)
class SftRow:
    question: str
    reasoning: str  # empty when the data has none
    answer: str
    where: str  # file:line or dataset:row, for reports


def _files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(TABLE_SUFFIXES + TEXT_SUFFIXES)
    )


def _file_rows(path: Path, report: DataReport) -> Iterator[Row]:
    """A table's rows, or a text file as one {"text": ...} row."""
    if not path.name.lower().endswith(TEXT_SUFFIXES):
        yield from datasource.iter_file(path, report)
        return
    report.read += 1
    yield str(path), {"text": read_utf8(path)}


def _index_rows(name: str, report: DataReport) -> Iterator[Row]:
    """Every snippet of a complete retrieval index as {"text": title + text}."""
    from medtui.core.rag.index import SnippetIndex

    index = SnippetIndex(name).open()
    try:
        for snippet in index.iter_snippets():
            report.read += 1
            text = f"{snippet.title}\n{snippet.text}" if snippet.title else snippet.text
            yield f"index:{name}:{snippet.id}", {"text": text}
    finally:
        index.close()


def iter_rows(
    source: str, report: DataReport, subset: str | None = None, split: str = "train", limit: int | None = None
) -> Iterator[Row]:
    """(where, row) from any training source; every row read is counted in `report`, malformed ones dropped."""
    path = Path(source).expanduser()
    if source.startswith("index:"):
        rows = _index_rows(source.removeprefix("index:"), report)
    elif path.is_dir() and not datasource.is_saved_dataset(path):
        files = _files(path)
        if not files:
            raise MedtuiError(f"{path}: no .jsonl, .json, .csv, .parquet, .txt or .md files in this folder")
        rows = (r for f in files for r in _file_rows(f, report))
    elif path.is_file():
        rows = _file_rows(path, report)
    elif path.exists() or is_hub_id(source):
        rows = datasource.iter_rows(source, report, split, subset)
    else:
        raise MedtuiError(
            f"dataset {source!r} not found: give a JSONL/JSON/CSV/parquet/.txt file, a folder, index:NAME "
            "or a Hub id like org/name"
        )
    yield from islice(rows, limit)


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

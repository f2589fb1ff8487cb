"""The one data-source layer: every table format reads to the same rows, and bad input is either
counted (when a report is kept) or a one-line error naming the file and line."""

import csv
import gzip
import json
from pathlib import Path

import pytest

from medtui.core.datasource import DataReport, iter_file, iter_rows, pick_fields, read_rows
from medtui.core.errors import MedtuiError

ROWS = [  # strings only, since CSV has no other type; commas, quotes, newlines and accents on purpose
    {"id": "1", "question": "What is gout?", "answer": 'A crystal arthritis, "podagra" when in the toe.'},
    {"id": "2", "question": "What lowers urate?", "answer": "Allopurinol.\nFebuxostat as a second line."},
    {"id": "3", "question": "Où est la douleur ?", "answer": "Au gros orteil, le plus souvent."},
]


def _jsonl(path: Path) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")


def _csv(path: Path, delimiter: str = ",") -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, list(ROWS[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(ROWS)


def _excel_csv(path: Path) -> None:
    """CSV as spreadsheet programs save it: a byte-order mark before the header."""
    _csv(path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def _parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), path)


def _gzipped(write):
    def write_gz(path: Path) -> None:
        plain = path.with_name(path.name.removesuffix(".gz"))
        write(plain)
        path.write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()

    return write_gz


def _saved(path: Path) -> None:
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(path))


WRITERS = {
    "rows.jsonl": _jsonl,
    "rows.json": lambda p: p.write_text(json.dumps(ROWS), encoding="utf-8"),
    "holder.json": lambda p: p.write_text(json.dumps({"version": 2, "data": ROWS}), encoding="utf-8"),
    "lines.json": _jsonl,  # JSON Lines under a .json name, as many exports name them
    "rows.csv": _csv,
    "excel.csv": _excel_csv,
    "rows.tsv": lambda p: _csv(p, "\t"),
    "rows.jsonl.gz": _gzipped(_jsonl),
    "rows.csv.gz": _gzipped(_csv),
    "rows.parquet": _parquet,
    "rows.parquet.gz": _gzipped(_parquet),
    "saved_dataset": _saved,
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_format_reads_the_same_rows(tmp_path, name):
    path = tmp_path / name
    WRITERS[name](path)
    report = DataReport()
    got = list(iter_rows(str(path), report))
    assert [row for _, row in got] == ROWS
    assert report.read == report.kept == len(ROWS)
    assert all(where.startswith(str(path)) for where, _ in got)
    if path.is_file():
        assert read_rows(path) == ROWS


def test_rows_are_placed_at_their_line(tmp_path):
    path = tmp_path / "rows.csv"
    _csv(path)  # the second row's answer spans two lines
    assert [where for where, _ in iter_file(path)] == [f"{path}:2", f"{path}:3", f"{path}:5"]
    lines = tmp_path / "rows.jsonl"
    lines.write_text(json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1]) + "\n", encoding="utf-8")
    assert [where for where, _ in iter_file(lines)] == [f"{lines}:1", f"{lines}:3"]


def _one_line_error(call, *fragments: str) -> None:
    with pytest.raises(MedtuiError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and all(f in message for f in fragments), message


def test_a_corrupt_jsonl_line_is_an_error_naming_file_and_line_or_is_counted(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n{oops\n" + json.dumps(["a", "list"]) + "\n" + json.dumps(ROWS[1]) + "\n")
    _one_line_error(lambda: read_rows(path), f"{path}:2:", "not a JSON line", "fix or remove that line")
    report = DataReport()
    assert [row for _, row in iter_file(path, report)] == ROWS[:2]
    assert report.read == 4 and dict(report.dropped) == {"malformed": 2} and report.examples["malformed"] == f"{path}:2"


def test_unreadable_files_are_one_line_errors(tmp_path):
    truncated = tmp_path / "rows.jsonl.gz"
    truncated.write_bytes(gzip.compress(b'{"text": "x"}\n' * 200)[:-20])
    not_utf8 = tmp_path / "latin1.csv"
    not_utf8.write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    not_parquet = tmp_path / "rows.parquet"
    not_parquet.write_text("id,text\n", encoding="utf-8")
    broken_json = tmp_path / "rows.json"
    broken_json.write_text('[{"text": "a"},\n {"text" "b"}]', encoding="utf-8")
    two_lists = tmp_path / "two.json"
    two_lists.write_text(json.dumps({"train": ROWS, "test": ROWS}), encoding="utf-8")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,text\n1,fine\n2\n", encoding="utf-8")
    cases = [
        (truncated, "truncated gzip"),
        (not_utf8, "not valid UTF-8"),
        (not_parquet, "not a readable parquet file"),
        (broken_json, f"{broken_json}:2: not valid JSON"),
        (two_lists, "one list"),
        (ragged, f"{ragged}:3: 1 cells where there are 2 columns"),
        (tmp_path / "missing.jsonl", "file not found"),
        (tmp_path / "notes.docx", "not a table"),
    ]
    (tmp_path / "notes.docx").write_bytes(b"PK")
    for path, fragment in cases:
        _one_line_error(lambda path=path: read_rows(path), str(path), fragment)
    _one_line_error(lambda: list(iter_rows(str(tmp_path / "nowhere"))), "not found", "Hub dataset id")


def test_headerless_csv_takes_the_column_names_given(tmp_path):
    path = tmp_path / "mmlu.csv"
    path.write_text("What is 2+2?,3,4,5,6,B\n", encoding="utf-8")
    columns = ("question", "A", "B", "C", "D", "answer")
    assert read_rows(path, columns) == [dict(zip(columns, ["What is 2+2?", "3", "4", "5", "6", "B"]))]


def test_fields_are_guessed_or_checked():
    fields = pick_fields(["pmid", "title", "abstract"], None, None, None, "x.csv")
    assert (fields.text, fields.title, fields.id) == ("abstract", "title", "pmid")
    _one_line_error(lambda: pick_fields(["a", "b"], None, None, None, "x.csv"), "x.csv: no text column", "--text-field")
    _one_line_error(lambda: pick_fields(["a", "b"], "a", "c", None, "x.csv"), "no title column 'c'", "fields are a, b")

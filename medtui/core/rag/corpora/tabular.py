"""Local JSONL and CSV files (gzip too): one document per row, text from a chosen column."""

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora.fields import pick_fields

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".csv", ".csv.gz", ".tsv")


def is_table(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(SUFFIXES)


def _open_text(path: Path):
    return (
        gzip.open(path, "rt", encoding="utf-8", newline="")
        if path.suffix == ".gz"
        else open(path, encoding="utf-8", newline="")
    )


def _rows(path: Path) -> Iterator[dict]:
    name = path.name.lower().removesuffix(".gz")
    try:
        with _open_text(path) as f:
            if name.endswith((".csv", ".tsv")):
                yield from csv.DictReader(f, delimiter="\t" if name.endswith(".tsv") else ",")
                return
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise MedtuiError(f"{path}:{n}: not a JSON line ({e.msg}): fix or remove that line") from None
                if not isinstance(row, dict):
                    raise MedtuiError(f"{path}:{n}: each line must be a JSON object")
                yield row
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as e:
        raise MedtuiError(
            f"{path}: unreadable ({type(e).__name__}): expected UTF-8 JSONL or CSV, optionally gzipped"
        ) from None


def iter_table(
    path: Path,
    text_field: str | None = None,
    title_field: str | None = None,
    id_field: str | None = None,
    whole: bool = False,
) -> Iterator[Document]:
    source = path.name
    fields = None
    for n, row in enumerate(_rows(path)):
        if fields is None:
            fields = pick_fields(list(row), text_field, title_field, id_field, origin=str(path))
        text = row.get(fields.text)
        if not isinstance(text, str) or not text.strip():
            continue
        doc_id = str(row.get(fields.id, n)) if fields.id else str(n)
        title = str(row.get(fields.title) or "") if fields.title else ""
        yield Document(id=f"{source}:{doc_id}", title=title, source=source, text=text, whole=whole)

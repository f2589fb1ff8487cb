"""Hugging Face datasets as documents: Hub ids (streamed, e.g. MedRAG/textbooks) or folders saved
with `Dataset.save_to_disk`. MedRAG rows are already snippets (id, title, content, contents)
and stay whole; other datasets are chunked unless told otherwise."""

from collections.abc import Iterator
from pathlib import Path

from medtui.core.datasource import is_saved_dataset as is_saved_dataset
from medtui.core.datasource import open_dataset
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora.report import SourceReport
from medtui.core.rag.corpora.tabular import row_documents, unique_columns


def count_hf(location: str, split: str, subset: str | None = None) -> int | None:
    return open_dataset(location, split, subset)[1]


def iter_hf(
    location: str,
    split: str = "train",
    text_field: str | None = None,
    title_field: str | None = None,
    id_field: str | None = None,
    whole: bool | None = None,
    report: SourceReport | None = None,
    subset: str | None = None,
) -> Iterator[Document]:
    rows, _ = open_dataset(location, split, subset)
    local = Path(location).exists()
    source = Path(location).name if local else location
    numbered = ((f"{location}:{n}", row) for n, row in enumerate(rows))
    # a saved dataset can be read twice to find a unique id column; a Hub stream is read once
    scan = (lambda columns: unique_columns(rows.select_columns(columns), columns)) if local else None
    yield from row_documents(numbered, source, text_field, title_field, id_field, whole, location, report, scan)

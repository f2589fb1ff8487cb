"""Table rows as documents, one per row, text from a chosen or guessed column: local files
(whatever `medtui.core.datasource` reads) here, saved and Hub datasets in hf_dataset."""

from collections.abc import Iterable, Iterator
from pathlib import Path

from medtui.core.datasource import Row, iter_file, pick_fields
from medtui.core.datasource import is_table as is_table
from medtui.core.rag.chunker import Document


def row_documents(
    rows: Iterable[Row],
    source: str,
    text_field: str | None,
    title_field: str | None,
    id_field: str | None,
    whole: bool | None,
    origin: str,
) -> Iterator[Document]:
    """Documents from rows; rows without text are skipped. `whole=None` keeps MedRAG-style rows
    (which carry `contents` = title + content) whole, since they already are snippets."""
    fields = None
    for n, (_, row) in enumerate(rows):
        if fields is None:
            fields = pick_fields(list(row), text_field, title_field, id_field, origin)
            if whole is None:
                whole = "contents" in row and "content" in row
        text = row.get(fields.text)
        if not isinstance(text, str) or not text.strip():
            continue
        doc_id = row.get(fields.id) if fields.id else None
        title = row.get(fields.title) if fields.title else None
        yield Document(
            id=f"{source}:{n if doc_id is None else doc_id}",
            title=str(title or ""),
            source=source,
            text=text,
            whole=bool(whole),
        )


def iter_table(
    path: Path,
    text_field: str | None = None,
    title_field: str | None = None,
    id_field: str | None = None,
    whole: bool = False,
) -> Iterator[Document]:
    return row_documents(iter_file(path), path.name, text_field, title_field, id_field, whole, str(path))

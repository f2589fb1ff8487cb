"""Table rows as documents, one per row, text from a chosen or guessed column: local files
(whatever `medtui.core.datasource` reads) here, saved and Hub datasets in hf_dataset."""

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from medtui.core.datasource import ID_FIELDS, Row, iter_file, pick_fields
from medtui.core.datasource import is_table as is_table
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora.report import SourceReport

UniqueColumns = Callable[[list[str]], list[str]]  # candidate id columns -> those whose values never repeat
REFERENCE_FIELDS = (("pmid", "PMID"), ("pubid", "PMID"), ("PMID", "PMID"), ("doi", "doi:"), ("DOI", "doi:"))


def row_reference(row: dict) -> str:
    """Where a row came from, for citing: its PMID (MedRAG/pubmed's `PMID`, PubMedQA's `pubid`) or
    DOI column, as "PMID 12345" / "doi:10.x/y"; "" when it has none (never made up)."""
    for field, label in REFERENCE_FIELDS:
        value = row.get(field)
        if value not in (None, "") and str(value).strip():
            return f"{label} {str(value).strip()}" if label == "PMID" else f"{label}{str(value).strip()}"
    return ""


def structured_text(value: object) -> str:
    """A text column's value as text: a string as it is, a list of strings one per line, and
    PubMedQA's Hub layout (`context` = {"contexts": [...], "labels": [...]}) as its labelled
    sections ("METHODS: ..."). Anything else has no text ("")."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("contexts"), list):
        labels = value.get("labels") or []
        return "\n".join(
            f"{label}: {part}" if isinstance(label, str) and label else part
            for part, label in zip(value["contexts"], [*labels, *[""] * len(value["contexts"])])
            if isinstance(part, str) and part.strip()
        )
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "\n".join(part for part in value if part.strip())
    return ""


def unique_columns(rows: Iterable[dict], columns: list[str]) -> list[str]:
    """The `columns` whose values are present in every row and never repeat (one pass, stops early
    once every column has repeated)."""
    seen: dict[str, set[str]] = {c: set() for c in columns}
    for row in rows:
        for column in [c for c in columns if c in seen]:
            value = row.get(column)
            if value is None or str(value) in seen[column]:
                del seen[column]
            else:
                seen[column].add(str(value))
        if not seen:
            break
    return [c for c in columns if c in seen]


def _id_column(columns: list[str], scan: UniqueColumns | None, report: SourceReport) -> str | None:
    """The first guessed id column whose values never repeat in the source (MedQuAD's `id` repeats
    across collections, its `uid` does not); the first guess when none is unique or the source
    cannot be read twice (a Hub stream): iter_documents then gives repeats content-derived ids."""
    candidates = [c for c in ID_FIELDS if c in columns]
    if len(candidates) < 2 or scan is None:
        return candidates[0] if candidates else None
    unique = scan(candidates)
    chosen = next((c for c in candidates if c in unique), candidates[0])
    report.repeating = candidates[: candidates.index(chosen)]
    return chosen


def row_documents(
    rows: Iterable[Row],
    source: str,
    text_field: str | None,
    title_field: str | None,
    id_field: str | None,
    whole: bool | None,
    origin: str,
    report: SourceReport | None = None,
    scan: UniqueColumns | None = None,
) -> Iterator[Document]:
    """Documents from rows; rows without text are skipped (and counted in `report`). `whole=None`
    keeps MedRAG-style rows (which carry `contents` = title + content) whole, since they already
    are snippets. `scan` finds which guessed id columns are unique, when the source can be read twice."""
    report = report if report is not None else SourceReport()
    fields = id_column = None
    for n, (where, row) in enumerate(rows):
        report.read += 1
        if fields is None:
            fields = pick_fields(list(row), text_field, title_field, id_field, origin)
            id_column = report.id_column = id_field or _id_column(list(row), scan, report)
            if whole is None:
                whole = "contents" in row and "content" in row
        text = structured_text(row.get(fields.text))
        if not text.strip():
            report.drop("no_text", where)
            continue
        doc_id = row.get(id_column) if id_column else None
        title = row.get(fields.title) if fields.title else None
        yield Document(
            id=f"{source}:{n if doc_id is None else doc_id}",
            title=str(title or ""),
            source=source,
            text=text,
            whole=bool(whole),
            reference=row_reference(row),
        )


def iter_table(
    path: Path,
    text_field: str | None = None,
    title_field: str | None = None,
    id_field: str | None = None,
    whole: bool = False,
    report: SourceReport | None = None,
) -> Iterator[Document]:
    return row_documents(
        iter_file(path),
        path.name,
        text_field,
        title_field,
        id_field,
        whole,
        str(path),
        report,
        lambda columns: unique_columns((row for _, row in iter_file(path)), columns),
    )

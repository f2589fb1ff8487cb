"""The manifest that says which phase an index has reached, and so whether it may be served.

It is written before the first snippet goes in (state "building"), turns "keyword" once every
snippet is in the snippet store and BM25 is built over them (served with BM25 only), and
"complete" once chromadb holds a vector for every snippet (hybrid search); an index in any
other state is refused. `count` is the vectors chromadb holds, `bm25_count` the snippets in
the store (and in BM25). It also records each source and the chunking used, so
`medtui index rebuild` can replay them.
"""

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_file

FORMAT = 3  # 3: snippet store + phases; 2: chunked documents, BM25 beside the vectors, sources as specs
MIGRATES = (2,)  # older formats `SnippetIndex` converts in place (their fields are a subset of this one's)
BUILDING, KEYWORD, COMPLETE = "building", "keyword", "complete"
SERVED = (KEYWORD, COMPLETE)


@dataclass
class Manifest:
    name: str
    embedder: str
    query_embedder: str = ""  # a separate query encoder (MedCPT-style); "" means the embedder
    state: str = BUILDING
    count: int = 0
    bm25_count: int = 0
    chunk_tokens: int = 200
    chunk_overlap: int = 32
    # SourceSpec.to_dict() + "state", "snippets" and SourceReport.to_dict() (counts: absent before they were kept)
    sources: list[dict] = field(default_factory=list)
    gate: dict = field(default_factory=dict)  # gate.Gate.to_dict(); {} before the gate: its embedder's rules apply
    format: int = FORMAT
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") not in (FORMAT, *MIGRATES):  # read what identifies it and a rebuild could replay
                sources = data.get("sources")
                return cls(
                    name=str(data.get("name", path.parent.name)),
                    embedder=str(data.get("embedder", "")),
                    state=str(data.get("state", BUILDING)),
                    format=int(data.get("format", 0)),
                    sources=sources if isinstance(sources, list) and all(isinstance(e, dict) for e in sources) else [],
                    **{k: data[k] for k in ("query_embedder", "chunk_tokens", "chunk_overlap") if k in data},
                )
            return cls(**data)
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise MedtuiError(
                f"{path}: corrupt index manifest ({e}): run `medtui index remove {path.parent.name}` and add its "
                "sources again"
            ) from None

    @property
    def dense_ready(self) -> bool:
        """Every snippet has its vector: the index serves hybrid search."""
        return self.format == FORMAT and self.state == COMPLETE

    def phase(self) -> str:
        """What the index serves and what is left, in one line (for `index info`)."""
        if self.state == COMPLETE:
            return f"complete: hybrid search (dense and BM25) over {self.bm25_count} snippets"
        if self.state == KEYWORD:
            return (
                f"keyword: BM25 search only; dense phase {self.count} of {self.bm25_count} snippets embedded "
                f"(finish it: `medtui index rebuild {self.name}`)"
            )
        if self.state == BUILDING:
            return f"building: keyword phase unfinished, not served (resume it: `medtui index rebuild {self.name}`)"
        return f"{self.state}: not served"

    def write(self, path: Path) -> None:
        self.updated = time.time()
        with atomic_file(path) as partial:  # a crash leaves the old manifest or the new one
            partial.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

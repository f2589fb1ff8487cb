"""The manifest that says whether an index is complete, and so whether it may be served.

It is written before the first snippet goes in (state "building") and flipped to
"complete" only after the last one and the BM25 index are in; an index whose manifest
says anything else is refused. It also records each source and the chunking used, so
`medtui index rebuild` can replay them.
"""

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_file

FORMAT = 2  # 2: chunked documents, BM25 beside the vectors, sources as specs
BUILDING, COMPLETE = "building", "complete"


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
    format: int = FORMAT
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:  # read what identifies it and what a rebuild could replay
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

    def write(self, path: Path) -> None:
        self.updated = time.time()
        with atomic_file(path) as partial:  # a crash leaves the old manifest or the new one
            partial.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

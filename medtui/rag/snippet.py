"""The unit of retrieval: a passage that keeps enough about where it came from to be cited."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    id: str  # stable across rebuilds: re-adding a source never duplicates it
    title: str
    source: str  # corpus name, e.g. "pubmedqa" or "hpo"
    text: str
    position: int = 0  # chunk number inside its document

    def metadata(self) -> dict[str, str | int]:
        return {"title": self.title, "source": self.source, "position": self.position}


@dataclass(frozen=True)
class Hit:
    snippet: Snippet
    score: float  # fused score used for ranking
    scores: dict[str, float]  # per-retriever scores, shown in the sources panel

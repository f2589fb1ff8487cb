"""The unit of retrieval: a passage that keeps enough about where it came from to be cited."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Snippet:
    id: str  # stable across rebuilds: re-adding a source never duplicates it
    title: str  # document title, with the section heading when there is one
    source: str  # corpus name, e.g. "pubmedqa", "MedRAG/textbooks" or a file name
    text: str
    position: int = 0  # chunk number inside its document
    doc_id: str = ""  # the document the chunk came from
    reference: str = ""  # where it came from, for citing: a DOI, a PMID, an HPO id ("" when unknown)

    def metadata(self) -> dict[str, str | int]:
        return {
            "title": self.title,
            "source": self.source,
            "position": self.position,
            "doc_id": self.doc_id or self.id,
            "reference": self.reference,
        }

    @classmethod
    def from_record(cls, sid: str, text: str, meta: dict) -> "Snippet":
        return cls(
            id=sid,
            title=str(meta.get("title", "")),
            source=str(meta.get("source", "")),
            text=text,
            position=int(meta.get("position", 0)),
            doc_id=str(meta.get("doc_id", sid)),
            reference=str(meta.get("reference", "")),  # indexes written before references were kept have none
        )


@dataclass(frozen=True)
class Hit:
    snippet: Snippet
    score: float  # fused score used for ranking
    scores: dict[str, float] = field(default_factory=dict)  # per-retriever scores, shown in the sources panel

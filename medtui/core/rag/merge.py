"""One document, one source slot (docs/grounding.md §4).

Chunks overlap, and a good document often yields several of the top hits; listed separately
they repeat text and crowd out other documents. Hits of one document are joined into one
source in reading order: adjacent chunks with their shared overlap removed, others with " … ".
"""

from dataclasses import replace

from medtui.core.rag.snippet import Hit

GAP = " … "
MIN_OVERLAP = 20  # characters: a shorter match is chance ("the"), not the chunker's overlap


def _join(left: str, right: str) -> str:
    """`left` then `right` without the longest stretch that ends one and starts the other."""
    for size in range(min(len(left), len(right)), MIN_OVERLAP - 1, -1):
        if left.endswith(right[:size]):
            return left + right[size:]
    return left + "\n" + right


def merge_documents(hits: list[Hit]) -> list[Hit]:
    """Hits ranked best first, with each document's hits merged into its best-ranked slot.
    A merged hit keeps its best scores per feature and its parts' positions in reading order."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.snippet.doc_id or hit.snippet.id, []).append(hit)
    merged = []
    for parts in groups.values():
        if len(parts) == 1:
            merged.append(parts[0])
            continue
        ordered = sorted(parts, key=lambda h: h.snippet.position)
        text = ordered[0].snippet.text
        for before, after in zip(ordered, ordered[1:]):
            adjacent = after.snippet.position == before.snippet.position + 1
            text = _join(text, after.snippet.text) if adjacent else text + GAP + after.snippet.text
        scores = {k: max(h.scores[k] for h in parts if k in h.scores) for p in parts for k in p.scores}
        best = parts[0]  # groups keep rank order: the first is the best-ranked
        snippet = replace(best.snippet, text=text, position=ordered[0].snippet.position)
        merged.append(Hit(snippet, best.score, scores))
    return merged

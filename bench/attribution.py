"""Calibrate and measure sentence attribution (issue 15, docs/grounding.md §8) on labelled public data.

1. BioASQ (7B–11B golden): a seeded sample of questions with an ideal answer. Each question's
   passages are its first gold snippets (up to `--gold`, distinct texts) and `--distractors`
   hard negatives: the snippets of other sampled questions most similar (dense) to this question,
   none from a PubMed document of this question, none of a near-duplicate question (body cosine
   ≥ 0.9). Each sentence of the first ideal answer is scored against every passage window by
   `support_scores`; a (sentence, passage) pair is positive for a gold passage and negative for a
   distractor (noisy: an answer sentence need not follow from every gold snippet). The sentences
   of another, random question's ideal answer ("foreign": not about these passages) are a second
   kind of negative: they should get no link. Questions are split in halves by a seeded shuffle
   of their ids. On the calibration half the candidate rules (dense, lexical, a logistic
   regression on both normalised to a weighted average) are fitted and thresholded on pairs
   (highest recall at precision ≥ 0.9, a pair scored by its passage's best window, as `attribute`
   scores it), and the simplest within `--simpler-within` (0.01, as bench/grounding.py) of the
   best sentence AUROC is chosen: per own sentence the best gold passage's score against the best
   distractor's, and each foreign sentence's best score (less noisy than pairs). Every candidate
   is measured on the held-out half through `attribute` itself; the answer of the most similar
   other question ("related") is reported too (its links may be right: same topic), and each
   answer sentence with its rarest word swapped for another answer's rare word ("rarest word
   swapped": one wrong key term, which the rule should not support) and each with a "not" put
   after its first auxiliary verb ("negated": it says the opposite). Every window first passes the
   core's vetoes (`admissible`: numbers, key terms, negation); key terms are counted over all the
   sampled passages (`--rare-share`: a word at most that share of them holds).
2. MedQuAD (sanity check): sentences of an answer against that answer chunked as the index
   chunks it, plus distractor chunks of other topics: nearly every sentence should be linked.
3. Generated answers: the questions of bench/data/clinical_questions.toml through the chat
   service (default model, default index, as bench/answers.py), each finished answer attributed
   by `attribute_answer`: share of checked sentences supported, and attribution time against
   the answer's generation time (target ≤ 10%).

`--write` stores the chosen rule, the lexical rule (the fallback for embedders without a
calibration) and the vetoes' settings in medtui/core/rag/attribution_calibration.json.

With `--cross-encoder NAME` (a Hub id or folder, written as `reranker` is in config.toml) every
part runs as the chat runs with that reranker configured: each sentence's windows are first picked
by the packaged rule of the default embedder (the `CROSS_WINDOWS` best admissible ones per
passage, `CrossCheck`), the cross-encoder scores them (`cross`), and the candidates are fitted
over dense, lexical and cross on those windows, on the same split and printed in the same table;
the generated answers are retrieved with the reranker too, and the packaged rule without the
cross-encoder is timed beside them. `--write` then stores only the chosen rule (with the rule that
picked its windows, `select`), under `cross_encoders[NAME]`, leaving the embedder rules as they
are. `--calibration PATH` writes to another file (a copy of the packaged one, updated), e.g. to
try the plumbing with a model whose rule must not ship.

    .venv/bin/python bench/attribution.py [--write] [--questions 500] [--generated N | --no-generated] [--keep DIR]
        [--rare-share SHARE] [--no-negation] [--cross-encoder NAME] [--calibration PATH]
"""

import argparse
import atexit
import datetime
import gzip
import json
import math
import os
import pickle
import random
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from answers import asked, load_questions
from grounding import (
    SIMPLER_WITHIN,
    TARGET_PRECISION,
    Candidate,
    auroc,
    choose_threshold,
    logistic,
    medquad_topics,
    set_threads,
)
from report import index_folder, table
from shared_data import SHARED

CALIBRATION = Path(__file__).resolve().parents[1] / "medtui" / "core" / "rag" / "attribution_calibration.json"
FEATURES = ("dense", "lexical", "cross")  # the columns of an item's window rows ("cross": 0 without a cross-encoder)
NEAR_DUPLICATE = 0.9  # body cosine above which another question is the same question asked again
BOOTSTRAP = 2000


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


class CachedEmbed:
    """`embed` with every text embedded once: a passage is scored with many answers. `--embed-cache`
    keeps the vectors between runs (a local pickle this bench wrote)."""

    def __init__(self, name: str, keep: Path | None = None) -> None:
        from medtui.core.rag.embedder import embed

        self.name, self.embed, self.keep = name, embed, keep
        self.cache = pickle.loads(keep.read_bytes()) if keep and keep.exists() else {}
        self.seconds = 0.0

    def save(self) -> None:
        if self.keep:
            self.keep.write_bytes(pickle.dumps(self.cache))

    def __call__(self, texts: list[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            start = time.perf_counter()
            self.cache.update(zip(missing, self.embed(missing, self.name)))
            self.seconds += time.perf_counter() - start
        return [self.cache[t] for t in texts]


class CachedCross:
    """A cross-encoder's `score_pairs` with every pair scored once: each candidate rule is measured
    through `attribute`, which asks for the same pairs again."""

    def __init__(self, name: str) -> None:
        from medtui.core.rag.reranker import score_pairs

        self.name, self.score, self.cache = name, score_pairs, {}
        self.seconds, self.scored = 0.0, 0

    def __call__(self, pairs: list[tuple[str, str]]) -> list[float]:
        missing = list(dict.fromkeys(p for p in pairs if p not in self.cache))
        if missing:
            start = time.perf_counter()
            self.cache.update(zip(missing, self.score(self.name, missing)))
            self.seconds += time.perf_counter() - start
            self.scored += len(missing)
        return [self.cache[p] for p in pairs]


def checked_sentences(text: str) -> list[str]:
    """The sentences `attribute` checks, as it reads them (citations removed, long enough)."""
    from medtui.core.rag.attribution import is_claim, read_citations, split_sentences

    out = []
    for a, b in split_sentences(text):
        clean, _ = read_citations(text[a:b])
        if is_claim(clean):
            out.append(clean)
    return out


# -- items -----------------------------------------------------------------------------------
@dataclass
class Item:
    """One answer against its passages: what `attribute` gets, with the truth about each passage."""

    key: str
    answer: str  # the text attributed
    passages: list[str]
    gold: list[bool]  # per passage
    foreign: str = ""  # a random other question's answer, against the same passages
    related: str = ""  # the answer of the most similar other question (not a near-duplicate)
    corrupted: str = ""  # the answer's checked sentences, one a line, each with its rarest word swapped
    negated: str = ""  # the answer's checked sentences, one a line, each with a "not" after its first auxiliary
    calibration: bool = False
    # per sentence, per passage: its windows' features, rows of FEATURES + whether the window passed
    # the core's vetoes (`admissible`: `attribute` scores a window that did not 0)
    own: list[list[np.ndarray]] = field(default_factory=list)
    alien: list[list[np.ndarray]] = field(default_factory=list)


def rarity_over(texts: list[str]):
    """The Vetoes' `rarity` for a corpus of `texts`: each word's share of the texts holding it
    (what the index's BM25 gives the chat)."""
    from medtui.core.rag.bm25 import content_words

    df: dict[str, int] = defaultdict(int)
    for t in set(texts):
        for w in set(content_words(t)):
            df[w] += 1
    n = max(len(set(texts)), 1)
    return lambda words: [df.get(w, 0) / n for w in words]


def score_item(item: Item, embed, vetoes, cross) -> None:
    """Each sentence's window rows, as `attribute` sees them (with `cross`: only the windows the
    cross-encoder reads, with its score)."""
    from medtui.core.rag.attribution import admissible, support_scores

    own, alien = checked_sentences(item.answer), checked_sentences(item.foreign)
    scored = support_scores(own + alien, item.passages, embed, vetoes, cross)
    per = []
    for windows in scored:
        by_passage: dict[int, list] = defaultdict(list)
        for features, w in windows:
            by_passage[w.source].append([features.get(f, 0.0) for f in FEATURES] + [float(admissible(features))])
        per.append([np.array(by_passage[n], dtype=float) for n in range(1, len(item.passages) + 1)])
    item.own, item.alien = per[: len(own)], per[len(own) :]


def bioasq_items(n: int, gold_cap: int, distractors: int, seed: int, embed) -> tuple[list[Item], dict]:
    rows: dict[str, dict] = {}
    for path in sorted((SHARED / "bioasq_taskb_golden").glob("Task*BGoldenEnriched/*.json.gz")):
        for q in json.loads(gzip.decompress(path.read_bytes()))["questions"]:
            if q.get("ideal_answer") and q.get("snippets") and q["id"] not in rows:
                rows[q["id"]] = q
    usable = sorted((q for q in rows.values() if checked_sentences(q["ideal_answer"][0])), key=lambda q: q["id"])
    rng = random.Random(seed)
    sample = sorted(rng.sample(usable, min(n, len(usable))), key=lambda q: q["id"])
    order = [q["id"] for q in sample]
    rng.shuffle(order)
    calibration = set(order[: len(order) // 2])

    pmid = lambda url: url.rstrip("/").rsplit("/", 1)[-1]
    gold: dict[str, list[str]] = {}
    docs: dict[str, set[str]] = {}
    pool: list[tuple[str, str, str]] = []  # (owner question, text, pmid)
    for q in sample:
        texts = list(dict.fromkeys(" ".join(s["text"].split()) for s in q["snippets"] if s["text"].strip()))
        gold[q["id"]] = texts[:gold_cap]
        docs[q["id"]] = {pmid(d) for d in q.get("documents", [])} | {pmid(s["document"]) for s in q["snippets"]}
        by_text = {" ".join(s["text"].split()): pmid(s["document"]) for s in q["snippets"]}
        pool += [(q["id"], t, by_text[t]) for t in gold[q["id"]]]
    bodies = np.asarray(embed([q["body"] for q in sample]), dtype=np.float32)
    pool_vectors = np.asarray(embed([t for _, t, _ in pool]), dtype=np.float32)
    similar = bodies @ pool_vectors.T
    same = bodies @ bodies.T
    index_of = {q["id"]: i for i, q in enumerate(sample)}
    stats = {"near-duplicate questions skipped": 0, "same-document snippets skipped": 0}

    items = []
    for i, q in enumerate(sample):
        own_texts = set(gold[q["id"]])
        picked, owners = [], set()
        for j in np.argsort(-similar[i]):
            owner, text, doc = pool[j]
            if owner == q["id"] or text in own_texts or text in picked:
                continue
            if same[i, index_of[owner]] >= NEAR_DUPLICATE:
                stats["near-duplicate questions skipped"] += 1
                continue
            if doc in docs[q["id"]]:
                stats["same-document snippets skipped"] += 1
                continue
            picked.append(text)
            owners.add(owner)
            if len(picked) == distractors:
                break
        others = [
            o
            for o in sample
            if o["id"] != q["id"] and o["id"] not in owners and not (docs[o["id"]] & docs[q["id"]])
            if same[i, index_of[o["id"]]] < NEAR_DUPLICATE
        ]
        foreign = rng.choice(others)["ideal_answer"][0]
        related = max(others, key=lambda o: same[i, index_of[o["id"]]])["ideal_answer"][0]
        passages = [(t, True) for t in gold[q["id"]]] + [(t, False) for t in picked]
        rng.shuffle(passages)
        items.append(
            Item(
                q["id"],
                q["ideal_answer"][0],
                [t for t, _ in passages],
                [g for _, g in passages],
                foreign=foreign,
                related=related,
                calibration=q["id"] in calibration,
            )
        )
    corrupt(items, random.Random(seed))
    return items, stats


AUXILIARY = re.compile(r"\b(is|are|was|were|can|may|might|could|should|will|would|has|have|does|do)\b(?! not\b)")


def corrupt(items: list[Item], rng: random.Random) -> None:
    """Set each item's `corrupted` answer: every checked sentence with its rarest word (fewest
    texts of the sample hold it) replaced by a rare word of another answer. A sentence with one
    wrong key term (a drug, a gene) should not be supported; on topic, it mostly still is. And its
    `negated` answer: every checked sentence without a negation, with "not" after its first
    auxiliary verb (those without one are left out)."""
    from medtui.core.rag.attribution import negated
    from medtui.core.rag.bm25 import content_words

    texts = {t for item in items for t in [*item.passages, item.answer]}
    df: dict[str, int] = defaultdict(int)
    for t in texts:
        for w in set(content_words(t)):
            df[w] += 1
    stem = lambda word: (content_words(word) or [""])[0]
    surface = lambda text: [w for w in re.findall(r"[A-Za-z][A-Za-z0-9-]{4,}", text) if stem(w)]
    rare = sorted({w for item in items for w in surface(item.answer) if df.get(stem(w), 0) <= 2})
    for item in items:
        lines = []
        for sentence in checked_sentences(item.answer):
            words = surface(sentence)
            if words:
                target = min(words, key=lambda w: (df.get(stem(w), 0), -len(w)))
                swap = rng.choice([w for w in rare if w not in sentence])
                lines.append(sentence.replace(target, swap, 1))
        item.corrupted = "\n".join(lines)
        item.negated = "\n".join(
            AUXILIARY.sub(r"\1 not", sentence, count=1)
            for sentence in checked_sentences(item.answer)
            if not negated(sentence) and AUXILIARY.search(sentence)
        )


def medquad_items(n: int, distractors: int, seed: int, embed) -> list[Item]:
    """Answers (of distinct topics, at most 3 chunks long) against their own chunks plus the most
    similar chunks of other topics' answers."""
    from medtui.core.rag.chunker import Chunker, Document
    from medtui.core.rag.embedder import load_embedder

    chunker = Chunker(load_embedder(embed.name).tokenizer)
    rng = random.Random(seed)
    topics = sorted(medquad_topics().values(), key=lambda t: t.key)
    rng.shuffle(topics)
    picked = []
    for t in topics:
        row = rng.choice(t.rows)
        chunks = [s.text for s in chunker.chunk(Document(row["uid"], t.focus, "medquad", row["answer"]))]
        if 1 <= len(chunks) <= 3 and checked_sentences(row["answer"]):
            picked.append((t.key, row, chunks))
        if len(picked) == n:
            break
    pool = [(key, c) for key, _, chunks in picked for c in chunks]
    questions = np.asarray(embed([row["question"] for _, row, _ in picked]), dtype=np.float32)
    similar = questions @ np.asarray(embed([c for _, c in pool]), dtype=np.float32).T
    items = []
    for i, (key, row, chunks) in enumerate(picked):
        others = [pool[j][1] for j in np.argsort(-similar[i]) if pool[j][0] != key][:distractors]
        items.append(Item(row["uid"], row["answer"], chunks + others, [True] * len(chunks) + [False] * len(others)))
    return items


# -- rules -----------------------------------------------------------------------------------
def gated(windows: np.ndarray) -> np.ndarray:
    """The windows' FEATURES, all 0 where the window failed a veto (the core's `admissible`)."""
    return windows[:, : len(FEATURES)] * windows[:, len(FEATURES) :]


def pair_scores(item_sentences: list[list[np.ndarray]], weights: np.ndarray) -> list[np.ndarray]:
    """Per sentence, each passage's score: its best window's (as `attribute` ranks them)."""
    return [np.array([(gated(w) @ weights).max() if len(w) else 0.0 for w in s]) for s in item_sentences]


def weight_vector(rule) -> np.ndarray:
    return np.array([rule.weights.get(f, 0.0) for f in FEATURES])


def labelled_pairs(items: list[Item], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the positive pairs (own sentence, gold passage) and of the negative ones (own
    sentence, distractor) and (foreign sentence, any passage)."""
    pos, neg = [], []
    for item in items:
        gold = np.array(item.gold)
        for s in pair_scores(item.own, weights):
            pos.append(s[gold])
            neg.append(s[~gold])
        neg += pair_scores(item.alien, weights)
    return np.concatenate(pos), np.concatenate(neg)


def sentence_auroc(items: list[Item], weights: np.ndarray) -> float:
    """Each own sentence's best gold passage score against its best distractor score and each
    foreign sentence's best score: less noisy than pairs (a sentence need not follow from every
    gold snippet, but usually from one)."""
    pos, neg = [], []
    for item in items:
        gold = np.array(item.gold)
        for s in pair_scores(item.own, weights):
            pos += [s[gold].max()] if gold.any() else []
            neg += [s[~gold].max()] if (~gold).any() else []
        neg += [s.max() for s in pair_scores(item.alien, weights)]
    return auroc(np.array(pos), np.array(neg))


def fit(
    items: list[Item], simpler_within: float, features: tuple[str, ...]
) -> tuple[list[Candidate], dict[str, float]]:
    """Candidate rules over `features` fitted on `items` as grounding.fit_rules does, on best
    windows: each feature alone and a logistic regression on all, thresholds (highest recall at
    precision ≥ 0.9) on pairs; the simplest rule within 0.01 of the best sentence AUROC is chosen
    (Candidate.cal_auroc). Also each pair AUROC."""
    from medtui.core.rag.gate import Rule

    weights: dict[str, dict[str, float]] = {f: {f: 1.0} for f in features}
    columns = [FEATURES.index(f) for f in features]
    x, y = [], []
    for item in items:
        for sentence, own in [(s, True) for s in item.own] + [(s, False) for s in item.alien]:
            for windows, g in zip(sentence, item.gold):
                x.append(gated(windows).max(axis=0)[columns] if len(windows) else np.zeros(len(features)))
                y.append(float(g and own))
    w, _ = logistic(np.array(x), np.array(y))
    w = w / np.abs(w).sum()
    weights["logistic"] = {f: round(float(v), 3) for f, v in zip(features, w)}
    candidates, pairs = [], {}
    for name, wts in weights.items():
        vector = weight_vector(Rule(wts, 0.0))
        pos, neg = labelled_pairs(items, vector)
        threshold, reached = choose_threshold(pos, neg)
        candidates.append(Candidate(name, Rule(wts, threshold), reached, sentence_auroc(items, vector)))
        pairs[name] = auroc(pos, neg)
    best = max(c.cal_auroc for c in candidates)
    near = [c for c in candidates if c.cal_auroc >= best - simpler_within]
    min(near, key=lambda c: (len(c.rule.weights), -c.cal_auroc)).chosen = True
    return candidates, pairs


# -- measuring -------------------------------------------------------------------------------
COUNTS = (
    "links",
    "gold links",
    "sentences",
    "linked to gold",
    "foreign",
    "foreign linked",
    "own linked",
    "top gold",
    "related",
    "related linked",
    "corrupted",
    "corrupted linked",
    "negated",
    "negated linked",
)


def item_counts(item: Item, rule, embed, vetoes, cross) -> list[int]:
    """What `attribute` does with this item's answer (and its foreign answer) under `rule`."""
    from medtui.core.rag.attribution import attribute

    own, alien, kin, bad, negative = (
        [s for s in attribute(t, item.passages, embed, rule, vetoes, cross) if s.checked]
        for t in (item.answer, item.foreign, item.related, item.corrupted, item.negated)
    )
    links = [n for s in own for n in s.sources]
    best = pair_scores(item.own, weight_vector(rule))
    return [
        len(links),
        sum(item.gold[n - 1] for n in links),
        len(own),
        sum(any(item.gold[n - 1] for n in s.sources) for s in own),
        len(alien),
        sum(bool(s.sources) for s in alien),
        sum(bool(s.sources) for s in own),
        sum(bool(item.gold[int(np.argmax(s))]) for s in best),  # best-scoring passage is gold, no threshold
        len(kin),
        sum(bool(s.sources) for s in kin),
        len(bad),
        sum(bool(s.sources) for s in bad),
        len(negative),
        sum(bool(s.sources) for s in negative),
    ]


def ratio_ci(counts: np.ndarray, num: int, den: int, seed: int) -> tuple[float, float, float]:
    """A ratio of sums over items and its 95% bootstrap interval (items resampled: a question's
    sentences and links are not independent)."""
    total = counts[:, den].sum()
    if not total:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(counts), (BOOTSTRAP, len(counts)))
    nums, dens = counts[picks, num].sum(axis=1), counts[picks, den].sum(axis=1)
    boot = nums[dens > 0] / dens[dens > 0]
    return float(counts[:, num].sum() / total), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def show(value: tuple[float, float, float]) -> str:
    v, lo, hi = value
    return "–" if math.isnan(v) else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def measure(items: list[Item], rule, embed, seed: int, vetoes, cross) -> dict:
    counts = np.array([item_counts(item, rule, embed, vetoes, cross) for item in items])
    c = {k: i for i, k in enumerate(COUNTS)}
    pos, neg = labelled_pairs(items, weight_vector(rule))
    own_best = np.concatenate([[s.max() for s in pair_scores(i.own, weight_vector(rule))] for i in items])
    alien_best = [s.max() for i in items for s in pair_scores(i.alien, weight_vector(rule))]
    return {
        "n": counts.sum(axis=0),
        "precision": ratio_ci(counts, c["gold links"], c["links"], seed),
        "recall": ratio_ci(counts, c["linked to gold"], c["sentences"], seed),
        "linked": ratio_ci(counts, c["own linked"], c["sentences"], seed),
        "top gold": ratio_ci(counts, c["top gold"], c["sentences"], seed),
        "foreign linked": ratio_ci(counts, c["foreign linked"], c["foreign"], seed),
        "related linked": ratio_ci(counts, c["related linked"], c["related"], seed),
        "corrupted linked": ratio_ci(counts, c["corrupted linked"], c["corrupted"], seed),
        "negated linked": ratio_ci(counts, c["negated linked"], c["negated"], seed),
        "auroc pairs": auroc(pos, neg),
        "auroc sentences": sentence_auroc(items, weight_vector(rule)),
        "auroc own vs foreign": auroc(own_best, np.array(alien_best)),
    }


# -- generated answers -----------------------------------------------------------------------
def generated(limit: int | None, threads: int, rules: dict[str, tuple], cross_encoder: str = "") -> list[dict]:
    """Each clinical question answered through the chat service as a user would, then attributed
    by `attribute_answer` under each of `rules` (name -> (Rule, CrossRule or None), standing in for
    the calibration file: with a CrossRule, through the cross-encoder). With `cross_encoder`,
    retrieval reranks with it, as in a chat with it configured."""
    import medtui.chat.attribution as chat_attribution
    from medtui.chat.service import ChatService, source_records
    from medtui.core.config import Settings
    from medtui.core.history import History
    from medtui.core.rag.reranker import score_pairs
    from medtui.core.wiring import open_engine, open_retriever

    calls: list[tuple[int, float]] = []  # (pairs, seconds) per cross-encoder call: to extrapolate to another model

    def counted(name: str, batch: list[tuple[str, str]]) -> list[float]:
        start = time.perf_counter()
        scores = score_pairs(name, batch)
        calls.append((len(batch), time.perf_counter() - start))
        return scores

    chat_attribution.score_pairs = counted
    # as many threads as embedding has: a fair ratio
    settings = Settings().replace(n_threads=threads, reranker=cross_encoder)
    start = time.perf_counter()
    retriever = open_retriever(settings)
    engine = open_engine(settings)
    print(f"# default index and model ready in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    history = History()
    service = ChatService(settings, engine, history, retriever)
    embedder = retriever.query_embedder
    rows = []
    for q, sources, done, seconds in asked(service, history, load_questions()[:limit]):
        row = {
            "id": q["id"],
            "sources": len(sources.hits),
            "status": str(done.status),
            "words": len(done.text.split()),
            "answer s": seconds,
            "answer": done.text,
            "passages": [h.snippet.text for h in sources.hits],
        }
        for name, (rule, crossed) in rules.items():
            chat_attribution.attribution_rule = lambda _, rule=rule: (rule, "bench/attribution.py")
            chat_attribution.cross_encoder_rule = lambda *_, crossed=crossed: (crossed, "bench/attribution.py")
            start, before = time.perf_counter(), len(calls)
            sentences = chat_attribution.attribute_answer(
                done.text, source_records(sources.hits), embedder, retriever.index.document_share, cross_encoder
            )
            row[name, "s"] = time.perf_counter() - start
            row[name, "pairs"] = sum(n for n, _ in calls[before:])
            row[name, "cross s"] = sum(s for _, s in calls[before:])
            checked = [s for s in sentences if s.checked]
            row["checked"] = len(checked)
            row[name, "supported"] = sum(bool(s.sources) for s in checked)
            row[name, "sentences"] = [s.to_dict() for s in sentences]
        rows.append(row)
    return rows


# -- report ----------------------------------------------------------------------------------
def candidate_rows(candidates: list[Candidate], pairs: dict[str, float], measured: dict[str, dict]) -> list[list]:
    rows = []
    for c in candidates:
        m = measured[c.name]
        name = ("**" if c.chosen else "") + c.name + ("**" if c.chosen else "")
        rows.append(
            [
                name,
                f"`{c.rule.describe()}`" + ("" if c.reached else " (max F1: precision 0.9 not reached)"),
                c.cal_auroc,
                pairs[c.name],
                m["auroc sentences"],
                m["auroc pairs"],
                m["auroc own vs foreign"],
                show(m["precision"]),
                show(m["recall"]),
                show(m["foreign linked"]),
                show(m["related linked"]),
                show(m["corrupted linked"]),
                show(m["negated linked"]),
                show(m["top gold"]),
            ]
        )
    return rows


CANDIDATE_HEADER = [
    "rule",
    "passes if",
    "AUROC sentences, cal",
    "AUROC pairs, cal",
    "AUROC sentences",
    "AUROC pairs",
    "AUROC own vs foreign sentence",
    "link precision [95% CI]",
    "sentence recall [95% CI]",
    "foreign sentences linked [95% CI]",
    "related-question sentences linked",
    "rarest word swapped: linked",
    "negated: linked",
    "best passage gold (no threshold)",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write medtui/core/rag/attribution_calibration.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--questions", type=int, default=500, help="BioASQ questions sampled")
    parser.add_argument("--gold", type=int, default=4, help="gold snippets per question, at most")
    parser.add_argument("--distractors", type=int, default=4, help="hard-negative snippets per question")
    parser.add_argument("--medquad", type=int, default=60, help="MedQuAD answers in the sanity check")
    parser.add_argument("--generated", type=int, default=6, help="clinical questions answered, in file order")
    parser.add_argument("--no-generated", action="store_true", help="skip the generated answers")
    parser.add_argument("--json", type=Path, help="write the generated answers, their sources and sentences here")
    parser.add_argument("--keep", type=Path, help="keep the default index here and reuse it on the next run")
    parser.add_argument("--simpler-within", type=float, default=SIMPLER_WITHIN, help="AUROC a simpler rule may give up")
    parser.add_argument("--threads", type=int, default=1, help="torch and llama.cpp threads (0: their defaults)")
    parser.add_argument(
        "--rare-share", type=float, help="key terms: words at most this share of the passages hold (default: packaged)"
    )
    parser.add_argument("--no-negation", action="store_true", help="leave the negation veto out")
    parser.add_argument("--embed-cache", type=Path, help="keep the passage vectors in this file between runs")
    parser.add_argument(
        "--cross-encoder", default="", help="calibrate attribution for this reranker (Hub id or folder, as configured)"
    )
    parser.add_argument("--calibration", type=Path, default=CALIBRATION, help="the calibration file --write updates")
    args = parser.parse_args()
    started = time.perf_counter()
    home = Path(tempfile.mkdtemp(prefix="medtui-attribution-"))
    atexit.register(shutil.rmtree, home, True)
    os.environ["MEDTUI_DATA_DIR"] = str(home / "data")
    os.environ["MEDTUI_CONFIG_DIR"] = str(home / "config")
    index_folder(args.keep, "medtui-attribution-")

    from medtui.core.rag.embedder import DEFAULT_EMBEDDER

    set_threads(args.threads)
    print(f"# start: {load()}", file=sys.stderr)
    embed = CachedEmbed(DEFAULT_EMBEDDER, args.embed_cache)
    embed(["warm up"])

    from medtui.core.rag.attribution import (
        CROSS,
        CROSS_WINDOWS,
        CrossCheck,
        CrossRule,
        Vetoes,
        attribution_rule,
        attribution_vetoes,
    )

    packaged, _ = attribution_rule(DEFAULT_EMBEDDER)  # with a cross-encoder: it picks the windows it reads
    shipped = attribution_vetoes(None)
    args.rare_share = shipped.rare_share if args.rare_share is None else args.rare_share
    if args.cross_encoder and (args.rare_share, args.no_negation) != (shipped.rare_share, not shipped.negation):
        parser.error(
            "--cross-encoder fits with the packaged vetoes (the chat's): leave --rare-share and --no-negation out"
        )
    cross = CrossCheck(CachedCross(args.cross_encoder), packaged) if args.cross_encoder else None
    features = FEATURES if cross else tuple(f for f in FEATURES if f != CROSS)

    # 1. BioASQ
    items, stats = bioasq_items(args.questions, args.gold, args.distractors, args.seed, embed)
    vetoes = Vetoes(rarity_over([t for i in items for t in i.passages]), args.rare_share, not args.no_negation)
    for item in items:
        score_item(item, embed, vetoes, cross)
    embed.save()
    cal = [i for i in items if i.calibration]
    held = [i for i in items if not i.calibration]
    scored = time.perf_counter()
    n_gold = sum(sum(i.gold) for i in items)
    n_pass = sum(len(i.passages) for i in items)
    print(
        f"## Sentence attribution (bench/attribution.py, seed {args.seed})\n\n"
        f"BioASQ 7B–11B: {len(items)} questions ({len(cal)} calibration / {len(held)} held-out, by a seeded "
        f"shuffle of their ids), {n_pass} passages ({n_gold} gold, ≤ {args.gold} per question; {n_pass - n_gold} "
        f"distractors, {args.distractors} per question: other questions' snippets nearest the question, "
        f"{stats['near-duplicate questions skipped']} of near-duplicate questions and "
        f"{stats['same-document snippets skipped']} from the question's own documents skipped). "
        f"Own sentences checked: {sum(len(i.own) for i in cal)} / {sum(len(i.own) for i in held)}; foreign "
        f"sentences: {sum(len(i.alien) for i in cal)} / {sum(len(i.alien) for i in held)} (calibration / held-out). "
        f"Vetoes: numbers, key terms (words at most {args.rare_share:g} of the {n_pass} passages hold), "
        f"negation {'off' if args.no_negation else 'on'}. "
        f"Embedder {DEFAULT_EMBEDDER}, {len(embed.cache)} texts embedded in {embed.seconds:.0f} s; "
        + (
            f"cross-encoder {args.cross_encoder} on the {CROSS_WINDOWS} windows per (sentence, passage) "
            f"`{packaged.describe()}` ranks highest, {cross.score.scored} pairs in {cross.score.seconds:.1f} s; "
            if cross
            else ""
        )
        + f"{load()}.\n"
    )
    candidates, pairs = fit(cal, args.simpler_within, features)
    measured = {c.name: measure(held, c.rule, embed, args.seed, vetoes, cross) for c in candidates}
    chosen = next(c for c in candidates if c.chosen)
    lexical = next(c for c in candidates if c.name == "lexical")
    print("### Candidate rules: fitted on the calibration half, measured on the held-out half\n")
    print(table(CANDIDATE_HEADER, candidate_rows(candidates, pairs, measured)))
    m = measured[chosen.name]
    n = dict(zip(COUNTS, m["n"].tolist()))
    print(
        f"\nHeld-out counts, chosen rule: {n['sentences']} own sentences, {n['links']} links "
        f"({n['gold links']} to gold), {n['linked to gold']} sentences linked to gold, "
        f"{n['sentences'] - n['own linked']} own sentences flagged unsupported; {n['foreign']} foreign sentences, "
        f"{n['foreign linked']} linked. Link precision = links to a gold passage / links; sentence recall = "
        "sentences with a link to a gold passage / sentences; intervals: 95% bootstrap over questions."
    )
    reached = m["precision"][0] >= TARGET_PRECISION
    print(
        f"\nPrecision ≥ {TARGET_PRECISION} on the held-out half with the chosen rule "
        f"({chosen.name}): {'yes' if reached else 'NO'} ({m['precision'][0]:.3f}; lower bound {m['precision'][1]:.3f})."
    )

    # 2. MedQuAD
    mq = medquad_items(args.medquad, args.distractors, args.seed, embed)
    mq_vetoes = Vetoes(rarity_over([t for i in mq for t in i.passages]), args.rare_share, not args.no_negation)
    for item in mq:
        score_item(item, embed, mq_vetoes, cross)
    rows = []
    for c in (chosen, lexical) if lexical is not chosen else (chosen,):
        r = measure(mq, c.rule, embed, args.seed, mq_vetoes, cross)
        rows.append([c.name, len(mq), int(r["n"][2]), show(r["recall"]), show(r["precision"]), show(r["top gold"])])
    print(f"\n### MedQuAD sanity check: answers against their own chunks + {args.distractors} distractor chunks\n")
    print(table(["rule", "answers", "sentences", "recall (own chunk linked)", "link precision", "best is own"], rows))
    medquad_done = time.perf_counter()

    # 3. generated answers
    if not args.no_generated:
        best = max(candidates, key=lambda c: c.cal_auroc)
        crossed = lambda c: CrossRule(c.rule, packaged) if cross else None
        rules = {c.name: (c.rule, crossed(c)) for c in {chosen.name: chosen, best.name: best}.values()}
        if cross:  # the cost the cross-encoder adds: against the rule the chat uses without it
            rules = {"packaged, no cross-encoder": (packaged, None)} | rules
        gen_rows = generated(args.generated, args.threads, rules, args.cross_encoder)
        print(
            "\n### Generated answers (default model and index, chat service): checked sentences supported, "
            "attribution time / answer time\n"
        )
        header = ["question", "sources", "status", "words", "checked", "answer s"]
        header += [f"{name}: {what}" for name in rules for what in ("supported", "s", "/ answer")]
        rows = []
        for r in gen_rows:
            rows.append([r["id"], r["sources"], r["status"], r["words"], r["checked"], r["answer s"]])
            rows[-1] += [v for n in rules for v in (r[n, "supported"], r[n, "s"], r[n, "s"] / r["answer s"])]
        print(table(header, rows))
        checked = sum(r["checked"] for r in gen_rows)
        print(f"\n{len(gen_rows)} answers, {checked} checked sentences, {load()}:")
        for name, (rule, through) in rules.items():
            supported = sum(r[name, "supported"] for r in gen_rows)
            ratios = [r[name, "s"] / r["answer s"] for r in gen_rows]
            added = [(r[name, "s"] - r[next(iter(rules)), "s"]) / r["answer s"] for r in gen_rows]
            print(
                f"- {name} (`{rule.describe()}`): {supported}/{checked} supported "
                f"({supported / max(checked, 1):.3f}); attribution / answer time mean {np.mean(ratios):.3f}, "
                f"max {max(ratios):.3f} (target ≤ 0.10: {'met' if np.mean(ratios) <= 0.10 else 'NOT met'}); "
                f"{sum(r[name, 's'] for r in gen_rows):.1f} s / {sum(r['answer s'] for r in gen_rows):.1f} s in all"
                + (
                    f"; cross-encoder pairs per answer mean {np.mean([r[name, 'pairs'] for r in gen_rows]):.0f}, max "
                    f"{max(r[name, 'pairs'] for r in gen_rows)}, scored in "
                    f"{sum(r[name, 'cross s'] for r in gen_rows):.2f} s in all; attribution time added over the "
                    f"packaged rule (the cross-encoder, and dense if the rule uses it): mean {np.mean(added):.3f} "
                    "of the answer time"
                    if through
                    else ""
                )
            )
        if args.json:
            keep = [{k if isinstance(k, str) else " ".join(k): v for k, v in r.items()} for r in gen_rows]
            args.json.write_text(json.dumps(keep, indent=1, ensure_ascii=False), encoding="utf-8")
    total = time.perf_counter() - started
    print(
        f"\nWall time {total:.0f} s (BioASQ {scored - started:.0f} s to score, MedQuAD and measuring "
        f"{medquad_done - scored:.0f} s, generated {time.perf_counter() - medquad_done:.0f} s); {load()}."
    )

    if args.write:
        date = datetime.date.today().isoformat()
        fitting = [
            a
            for a, b in zip(sys.argv[1:], [None, *sys.argv[1:]])
            if not {a, b} & {"--keep", "--json", "--embed-cache", "--calibration"}
        ]
        source = (
            f"{' '.join(['bench/attribution.py', *fitting])}, {date}: BioASQ 7B-11B, {len(items)} questions "
            f"(seed {args.seed}), fitted on {len(cal)} ({sum(len(i.own) for i in cal)} answer sentences), measured "
            f"on {len(held)} ({n['sentences']}): "
            + "; ".join(
                f"{c.name} rule {c.rule.describe()}: link precision {measured[c.name]['precision'][0]:.3f}, "
                f"sentence recall {measured[c.name]['recall'][0]:.3f}"
                for c in [chosen] + ([lexical] if lexical is not chosen else [])
            )
            + f" (chosen: the simplest within {args.simpler_within} of the best sentence AUROC)"
        )
        data = json.loads((args.calibration if args.calibration.exists() else CALIBRATION).read_text(encoding="utf-8"))
        if cross:  # its own entry only: the embedder rules (and the other cross-encoders') stay
            entry = CrossRule(chosen.rule, packaged).to_dict(DEFAULT_EMBEDDER, source)
            data["cross_encoders"] = data.get("cross_encoders", {}) | {args.cross_encoder: entry}
        else:  # each cross-encoder entry keeps the rule that picked its windows: it stays valid
            data = {
                "source": source,
                "embedders": {DEFAULT_EMBEDDER: chosen.rule.to_dict()},
                "lexical": lexical.rule.to_dict(),
                "vetoes": {"rare_share": args.rare_share, "negation": not args.no_negation},
                "cross_encoders": data.get("cross_encoders", {}),
            }
        args.calibration.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.calibration}")


if __name__ == "__main__":
    main()

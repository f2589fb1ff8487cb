"""Conversation-aware retrieval (docs/grounding.md §5): a follow-up searched alone vs with the
earlier question (`chat.followup.standalone_query`).

Two-turn conversations are made at run time from MedQuAD topics: turn 1 names the topic ("What
is <focus>?" or the dataset's own question about it), turn 2 asks about one aspect of it through
a pronoun, from a template per question type ("What are its symptoms?"). The answer is that
topic's answer of that type. The topics' answers and those of distractor topics are indexed.
Measured: hit rate@4 (the answer, or any passage of the topic, among the 4 best candidates of
`Retriever.rank`) of the follow-up searched alone and as the standalone query. Controls: turn 2
switches to another, named topic (the dataset's question about it); `is_followup` should leave
the query unchanged.

    .venv/bin/python bench/followup.py [--keep DIR]
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from grounding import (
    MODES,
    build_index,
    embed_once,
    medquad_corpus,
    medquad_topics,
    mode_options,
    pick_topics,
    set_threads,
)
from report import index_folder, table

TEMPLATES = {  # MedQuAD qtype -> a follow-up that points back at the topic
    "symptoms": "What are its symptoms?",
    "treatment": "How is it treated?",
    "inheritance": "Is it inherited?",
    "frequency": "How common is it?",
    "causes": "What causes it?",
    "exams and tests": "How is it diagnosed?",
    "genetic changes": "Which genetic changes cause it?",
    "outlook": "What is the outlook for people who have it?",
    "prevention": "How can it be prevented?",
    "susceptibility": "Who is at risk of getting it?",
    "complications": "What complications can it cause?",
    "research": "What research is being done on it?",
    "stages": "What are its stages?",
}
K = 4


def conversations(targets, others, n: int, switches: int, seed: int):
    """(turn 1, turn 2, answer document, topic documents, is a topic switch) tuples."""
    rng = random.Random(seed)
    out = []
    for i, t in enumerate(targets[:n]):
        typed = sorted({r["qtype"] for r in t.rows} & set(TEMPLATES))
        qtype = typed[i % len(typed)]
        answer = rng.choice([r for r in t.rows if r["qtype"] == qtype])
        own = [r for r in t.rows if r["qtype"] == "information"]
        first = own[0]["question"] if own and i % 2 else f"What is {t.focus}?"
        out.append((first, TEMPLATES[qtype], answer["uid"], {r["uid"] for r in t.rows}, False))
    for i in range(switches):
        a, b = targets[i], others[i]  # b: another indexed topic, named in its own dataset question
        row = rng.choice([r for r in b.rows if r["qtype"] != "information"] or b.rows)
        out.append((f"What is {a.focus}?", row["question"], row["uid"], {r["uid"] for r in b.rows}, True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the index here and reuse it on the next run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--conversations", type=int, default=30)
    parser.add_argument("--switches", type=int, default=15)
    parser.add_argument("--topics", type=int, default=80, help="topics indexed (conversation topics + distractors)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    started = time.perf_counter()
    work = index_folder(args.keep, "medtui-followup-")

    from medtui.chat.followup import is_followup, standalone_query
    from medtui.core.rag.retriever import Retriever

    set_threads(args.threads)
    topics, _ = pick_topics(medquad_topics(), args.topics, 0, args.seed)
    usable = [  # focus names that read as a topic ("What is Ewing Sarcoma?"), not as a leaflet title
        t
        for t in topics
        if {r["qtype"] for r in t.rows} & set(TEMPLATES) and len(t.focus.split()) <= 6 and not set(":?") & set(t.focus)
    ]
    targets = usable[: args.conversations]
    others = [t for t in topics if t not in targets]
    corpus = medquad_corpus(topics, work / "medquad.jsonl")
    index = build_index(f"followup-{args.seed}", corpus, whole=False)
    doc = lambda uid: f"{corpus.name}:{uid}"
    convs = conversations(targets, others, args.conversations, args.switches, args.seed)
    manifest = index.manifest()
    queries = [q for first, second, *_ in convs for q in (second, standalone_query(second, [first], turns=2))]
    embed_once(queries, manifest.query_embedder or manifest.embedder)

    rows = []
    for mode in MODES:
        retriever = Retriever(index, mode_options(mode))
        tallies = {False: [[0, 0, 0, 0], 0, 0], True: [[0, 0, 0, 0], 0, 0]}  # hits, flagged, n
        for first, second, answer, topic, switch in convs:
            queries = (second, standalone_query(second, [first], turns=2))
            t = tallies[switch]
            for j, query in enumerate(queries):
                docs = [h.snippet.doc_id for h in retriever.rank(query, K)]
                t[0][2 * j] += doc(answer) in docs
                t[0][2 * j + 1] += any(d in {doc(u) for u in topic} for d in docs)
            t[1] += is_followup(second)
            t[2] += 1
        for switch, (hits, flagged, n) in tallies.items():
            rows.append(
                [
                    "topic switch (control)" if switch else "follow-up",
                    mode,
                    n,
                    flagged / n,
                    hits[0] / n,
                    hits[2] / n,
                    hits[1] / n,
                    hits[3] / n,
                ]
            )
    print(
        f"## Follow-up retrieval (bench/followup.py, seed {args.seed})\n\n"
        f"MedQuAD: {len(topics)} topics indexed ({manifest.count} passages); {args.conversations} two-turn "
        f"conversations (turn 2 from a template per question type) and {args.switches} topic switches (turn 2 is "
        f"the dataset's question about another indexed topic). Hit@{K}: among `Retriever.rank(query, {K})`; "
        "standalone: `standalone_query(turn 2, [turn 1], turns=2)`.\n"
    )
    print(
        table(
            [
                "conversations",
                "mode",
                "n",
                "is_followup",
                f"answer hit@{K} alone",
                f"answer hit@{K} standalone",
                f"topic hit@{K} alone",
                f"topic hit@{K} standalone",
            ],
            rows,
        )
    )
    flagged = [second for _, second, *_, switch in convs if switch and is_followup(second)]
    if flagged:
        print(f"\nTopic switches that `is_followup` takes for follow-ups ({len(flagged)}): " + "; ".join(flagged))
    print(f"\nWall time {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()

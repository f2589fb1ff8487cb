"""The grounded-answers check: the questions in bench/data/clinical_questions.toml, asked in the
chat service as a user would (default model, default index, RAG on), scored by rules that do
not use the app's own checks, so the same script measures an older checkout too.

    python bench/answers.py                     # one row per question, then the totals
    python bench/answers.py --layouts           # the totals for each prompt layout (docs/results.md)
    python bench/answers.py --json out.json     # also keep every answer

Per answer: is a retrieved source relevant (holds an expected word)? is the answer on topic
(holds one)? empty (under two words, or only a lead-in ending in ':')? looping (a 4-word
sequence three times or more)? cut (as many tokens as max_tokens allowed)? are its [n]
citations valid? and, for the off-topic question, did any source reach the prompt?
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import tomllib

sys.path.insert(0, str(Path(__file__).parent))
from report import table

QUESTIONS = Path(__file__).with_name("data") / "clinical_questions.toml"


def load_questions() -> list[dict]:
    return tomllib.loads(QUESTIONS.read_text(encoding="utf-8"))["question"]


def mentions(text: str, words: list[str]) -> bool:
    lowered = text.lower()
    return any(re.search(rf"(?<![a-z]){re.escape(w.lower())}(?![a-z])", lowered) for w in words)


def is_empty(answer: str) -> bool:
    words = re.findall(r"\w+", answer)
    return len(words) < 2 or (len(words) <= 12 and answer.rstrip().endswith((":", "-", "—")))


def loops(answer: str) -> bool:
    words = answer.lower().split()
    grams: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - 3):
        gram = tuple(words[i : i + 4])
        grams[gram] = grams.get(gram, 0) + 1
    return any(n >= 3 for n in grams.values())


def citations_valid(answer: str, n_sources: int) -> bool | None:
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", answer)]
    return None if not cited else all(1 <= n <= n_sources for n in cited)


def asked(service, history, questions: list[dict]) -> Iterator[tuple[dict, object, object, float]]:
    """(question, Sources, Done, seconds) per question, asked through the chat service; a
    follow-up ("after") in the conversation of the question it follows."""
    from medtui.chat.service import Done, Sources

    conversations: dict[str, int] = {}
    for q in questions:
        conversation = conversations[q["after"]] if "after" in q else history.new_conversation(q["text"][:40], "bench")
        conversations[q["id"]] = conversation
        start = time.perf_counter()
        sources = done = None
        for event in service.answer(conversation, q["text"]):
            if isinstance(event, Sources):
                sources = event
            elif isinstance(event, Done):
                done = event
        yield q, sources, done, time.perf_counter() - start


def ask_all(settings, engine, retriever) -> list[dict]:
    from medtui.chat.service import ChatService
    from medtui.core.history import History
    from medtui.core.reasoning import split_reasoning

    history = History()
    service = ChatService(settings, engine, history, retriever)
    rows = []
    for q, sources, done, seconds in asked(service, history, load_questions()):
        answer = split_reasoning(done.text).answer.strip()
        hits = sources.hits
        rows.append(
            {
                "id": q["id"],
                "question": q["text"],
                "off_topic": q.get("off_topic", False),
                "sources": [h.snippet.title for h in hits],
                "relevant_source": mentions(" ".join(h.snippet.text for h in hits), q["expect"]) if hits else False,
                "answer": answer,
                "on_topic": mentions(answer, q["expect"]),
                "empty": is_empty(answer),
                "loops": loops(answer),
                "cut": engine.count_tokens(done.text) >= settings.max_tokens - 1,
                "citations_valid": citations_valid(answer, len(hits)),
                "status": str(getattr(done, "status", "cancelled" if done.cancelled else "complete")),
                "grounded": getattr(sources, "grounded", None),
                "notices": list(sources.notices) + list(getattr(done, "notices", [])),
                "seconds": round(seconds, 1),
            }
        )
    return rows


def totals(rows: list[dict]) -> dict:
    medical = [r for r in rows if not r["off_topic"]]
    off = [r for r in rows if r["off_topic"]]
    return {
        "questions": len(medical),
        "relevant source": sum(r["relevant_source"] for r in medical),
        "answer on topic": sum(r["on_topic"] for r in medical),
        "empty": sum(r["empty"] for r in rows),
        "looping": sum(r["loops"] for r in rows),
        "cut at limit": sum(r["cut"] for r in rows),
        "valid citations": sum(r["citations_valid"] is True for r in medical),
        "invalid citations": sum(r["citations_valid"] is False for r in medical),
        "off-topic with sources": sum(bool(r["sources"]) for r in off),
        "labelled not grounded": sum(r["grounded"] is False for r in rows),
        "mean s/answer": round(sum(r["seconds"] for r in rows) / len(rows), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", action="store_true", help="compare the prompt layouts")
    parser.add_argument("--json", type=Path, help="write every answer here")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="medtui-answers-"))
    os.environ["MEDTUI_DATA_DIR"] = str(home / "data")
    os.environ["MEDTUI_CONFIG_DIR"] = str(home / "config")
    os.environ.setdefault("MEDTUI_INDEXES_DIR", str(home / "indexes"))

    from medtui.core.config import Settings
    from medtui.core.wiring import open_engine, open_retriever

    settings = Settings()
    started = time.perf_counter()
    retriever = open_retriever(settings)
    engine = open_engine(settings)
    print(f"# index and model ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    results: dict[str, list[dict]] = {}
    if args.layouts:
        from medtui.core.config import PROMPT_LAYOUTS

        for layout in PROMPT_LAYOUTS:
            results[layout] = ask_all(settings.replace(prompt_layout=layout), engine, retriever)
        names = list(totals(next(iter(results.values()))))
        print(table(["layout", *names], [[layout, *totals(rows).values()] for layout, rows in results.items()]))
    else:
        rows = results["default"] = ask_all(settings, engine, retriever)
        print(
            table(
                ["question", "sources", "relevant", "on topic", "empty", "loops", "cut", "citations", "status"],
                [
                    [
                        r["id"],
                        len(r["sources"]),
                        r["relevant_source"],
                        r["on_topic"],
                        r["empty"],
                        r["loops"],
                        r["cut"],
                        r["citations_valid"],
                        r["status"] + ("" if r["grounded"] is not False else ", not grounded"),
                    ]
                    for r in rows
                ],
            )  # fmt: skip
        )
        print()
        print(table(list(totals(rows)), [list(totals(rows).values())]))
    print(f"\n# {time.perf_counter() - started:.0f} s in all", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()

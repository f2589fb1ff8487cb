"""Readers for the public data in ../shared/data that the benchmarks use (never copied here)."""

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class BioasqQuestion:
    id: str
    body: str
    gold: set[str]  # ids of its gold snippets


def snippet_key(s: dict) -> str:
    pmid = s["document"].rsplit("/", 1)[-1]
    return f"{pmid}-{s['beginSection']}-{s['offsetInBeginSection']}-{s['offsetInEndSection']}"


def bioasq(tasks: list[str]) -> tuple[list[BioasqQuestion], dict[str, dict]]:
    """Questions with gold snippets, and the pool of all their snippets as rows (id, title, text)."""
    questions: dict[str, BioasqQuestion] = {}
    pool: dict[str, dict] = {}
    for task in tasks:
        for path in sorted((SHARED / "bioasq_taskb_golden" / f"Task{task}GoldenEnriched").glob("*.json.gz")):
            for q in json.loads(gzip.decompress(path.read_bytes()))["questions"]:
                gold = set()
                for s in q.get("snippets", []):
                    key = snippet_key(s)
                    pool.setdefault(key, {"id": key, "title": f"PubMed {key.split('-')[0]}", "text": s["text"]})
                    gold.add(key)
                if gold and q["id"] not in questions:
                    questions[q["id"]] = BioasqQuestion(q["id"], q["body"], gold)
    return list(questions.values()), pool


def jsonl_gz(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def write_jsonl(rows, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path

"""An index serves from its keyword phase on: BM25 over the snippet store first, dense vectors
embedded after (docs/grounding.md, section 1). Real chromadb and MiniLM on a few dozen snippets:
each phase alone, a cancelled and a killed build resumed to exact counts, a format-2 index
migrated in place, and `verify` comparing the store with BM25 and chromadb."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import medtui.core.rag.index as index_module
from medtui.core.errors import MedtuiError
from medtui.core.rag.bm25 import build_bm25
from medtui.core.rag.embedder import DEFAULT_EMBEDDER, embed
from medtui.core.rag.index import DENSE, Cancelled, SnippetIndex, _drop_shared_client, index_dir
from medtui.core.rag.manifest import KEYWORD
from medtui.core.rag.snippet_store import STORE
from medtui.core.rag.sources import resolve_source

TOPICS = [
    ("Gout", "Gout flares are caused by urate crystals and treated with colchicine or NSAIDs."),
    ("Metformin", "Metformin is the first-line drug for type 2 diabetes and rarely causes hypoglycaemia."),
    ("Warfarin", "Warfarin dosing is monitored with the INR; vitamin K reverses its effect."),
    ("Asthma", "Inhaled corticosteroids are the mainstay of long-term asthma control."),
    ("Anaemia", "Iron deficiency is the most common cause of anaemia worldwide."),
    ("Migraine", "Triptans abort a migraine attack; propranolol can prevent recurrent attacks."),
    ("Hypothyroidism", "Levothyroxine replaces thyroid hormone in hypothyroidism; TSH guides the dose."),
    ("Pneumonia", "Community-acquired pneumonia is often caused by Streptococcus pneumoniae."),
]
ROWS = 40  # five notes on each topic, each its own snippet


def notes(path: Path, rows: int = ROWS) -> Path:
    lines = []
    for i in range(rows):
        title, text = TOPICS[i % len(TOPICS)]
        lines.append(json.dumps({"id": f"n{i}", "title": title, "text": f"Note {i}. {text} Case number {i}."}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def release(index: SnippetIndex) -> None:
    index.close()
    _drop_shared_client(index.root / "chroma")


def store_ids(index: SnippetIndex) -> list[str]:
    return [s.id for s in index.iter_snippets()]


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 8, so a few dozen snippets take several (what a cancel or a kill lands between)."""
    monkeypatch.setattr(index_module, "BATCH", 8)


def test_the_keyword_phase_alone_serves_bm25_and_the_dense_phase_completes_it(tmp_path):
    spec = resolve_source(str(notes(tmp_path / "notes.jsonl")), whole=True)
    index = SnippetIndex("phases")
    phases, reports = [], []
    manifest = index.add(
        [spec], dense=False, phase=phases.append, progress=lambda done, total: reports.append((done, total))
    )
    assert (manifest.state, manifest.bm25_count, manifest.count, manifest.format) == (KEYWORD, ROWS, 0, 3)
    assert manifest.sources[0]["state"] == KEYWORD and manifest.sources[0]["snippets"] == ROWS
    assert phases == [KEYWORD] and reports[0] == (0, ROWS) and reports[-1] == (ROWS, ROWS)
    assert not (index.root / "chroma").exists()  # nothing embedded, chromadb not even opened

    served = SnippetIndex("phases").open()
    assert not served.dense_ready and not served.manifest().dense_ready
    assert "keyword: BM25 search only; dense phase 0 of 40" in served.manifest().phase()
    hits = served.bm25_search("warfarin INR", 5)
    assert hits and all(served.fetch([sid])[sid].title == "Warfarin" for sid, _ in hits)
    assert len(store_ids(served)) == ROWS and store_ids(served)[0] == "notes.jsonl:n0"  # the order they were read
    with pytest.raises(MedtuiError, match="keyword search only.*medtui index rebuild phases"):
        served.dense_search(embed(["warfarin"])[0], 3)
    assert served.verify() == []

    phases, reports = [], []
    manifest = SnippetIndex("phases").embed_pending(
        progress=lambda done, total: reports.append((done, total)), phase=phases.append
    )
    assert (manifest.state, manifest.count, manifest.bm25_count) == ("complete", ROWS, ROWS)
    assert manifest.sources[0]["state"] == "complete" and phases == [DENSE]
    assert reports[0] == (0, ROWS) and reports[-1] == (ROWS, ROWS)
    assert served.dense_ready  # the index already open sees the dense phase finish
    question = "Which drug is first-line for type 2 diabetes?"
    (top, cosine), *_ = served.dense_search(embed([question])[0], 3)
    assert served.fetch([top])[top].title == "Metformin" and cosine > 0.3
    vectors = served.vectors([top, "notes.jsonl:nowhere"])
    assert list(vectors) == [top] and abs(float(np.linalg.norm(vectors[top])) - 1) < 1e-5
    assert abs(float(vectors[top] @ np.asarray(embed([question])[0])) - cosine) < 1e-4
    assert SnippetIndex("phases").open().verify() == []

    again = SnippetIndex("phases").add([spec])  # a repeated add stores and embeds nothing twice
    assert (again.state, again.count, again.bm25_count) == ("complete", ROWS, ROWS)
    assert SnippetIndex("phases").open().collection().count() == ROWS
    release(index)
    release(served)


def test_a_cancelled_dense_phase_resumes_to_exact_counts(tmp_path, small_batches):
    spec = resolve_source(str(notes(tmp_path / "notes.jsonl")), whole=True)
    index = SnippetIndex("dense-cancel")
    cancel = threading.Event()
    phases = []

    def progress(done, total):
        if phases[-1] == DENSE and done >= 16:
            cancel.set()

    with pytest.raises(Cancelled, match="stopped after 16 of 40 snippets.*run it again to resume"):
        index.add([spec], progress=progress, cancel=cancel, phase=phases.append)
    partial = index.manifest()
    assert (partial.state, partial.count, partial.bm25_count) == (KEYWORD, 16, ROWS)
    SnippetIndex("dense-cancel").open()  # served meanwhile, BM25 only
    manifest = index.embed_pending()
    assert (manifest.state, manifest.count) == ("complete", ROWS)
    reopened = SnippetIndex("dense-cancel").open()
    held = [sid for sid in reopened._chroma_ids()]
    assert len(held) == len(set(held)) == ROWS and set(held) == set(store_ids(reopened))
    assert reopened.verify() == []
    release(index)
    release(reopened)


def test_rebuild_of_a_keyword_index_resumes_the_dense_phase_without_reading_its_sources(tmp_path):
    path = notes(tmp_path / "gone.jsonl", 12)
    index = SnippetIndex("keyword-resume")
    index.add([resolve_source(str(path), whole=True)], dense=False)
    path.unlink()  # a rebuild that read its sources again would fail now
    manifest = SnippetIndex("keyword-resume").rebuild()
    assert (manifest.state, manifest.count, manifest.bm25_count) == ("complete", 12, 12)
    release(index)


KILLED_BUILD = """
import sys, time
import medtui.core.rag.index as index_module
from medtui.core.rag.sources import resolve_source

index_module.BATCH = 8


def progress(done, total):
    if done:  # the first batch is committed: wait here to be killed
        print("stored", done, flush=True)
        time.sleep(600)


index_module.SnippetIndex("killed-keyword").add([resolve_source(sys.argv[1], whole=True)], progress=progress)
"""


def test_a_build_killed_in_its_keyword_phase_is_refused_then_rebuilds_clean(tmp_path):
    source = notes(tmp_path / "notes.jsonl")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(source)],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert line.strip() == "stored 8"
    index = SnippetIndex("killed-keyword")
    assert index.manifest().state == "building" and len(store_ids(index)) == 8  # the committed batch, no more
    with pytest.raises(MedtuiError, match=r"only partly built \(8 snippets\).*medtui index rebuild killed-keyword"):
        SnippetIndex("killed-keyword").open()
    manifest = SnippetIndex("killed-keyword").rebuild()
    assert (manifest.state, manifest.count, manifest.bm25_count) == ("complete", ROWS, ROWS)
    rebuilt = SnippetIndex("killed-keyword").open()
    assert sorted(store_ids(rebuilt)) == sorted(f"notes.jsonl:n{i}" for i in range(ROWS))
    assert rebuilt.verify() == []
    release(index)
    release(rebuilt)


def write_format2(name: str, source: Path, rows: int, state: str = "complete") -> SnippetIndex:
    """An index as format 2 wrote it: snippets (text and metadata) in chromadb, BM25 beside."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    root = index_dir(name)
    client = chromadb.PersistentClient(path=str(root / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_or_create_collection("snippets", embedding_function=None, metadata={"hnsw:space": "cosine"})
    data = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()][:rows]
    ids = [f"{source.name}:{r['id']}" for r in data]
    texts = [r["text"] for r in data]
    metadatas = [
        {"title": r["title"], "source": source.name, "position": 0, "doc_id": sid} for r, sid in zip(data, ids)
    ]
    collection.add(ids=ids, documents=texts, metadatas=metadatas, embeddings=embed(texts))
    if state == "complete":
        build_bm25(root / "bm25", ids, texts)
    client.close()
    _drop_shared_client(root / "chroma")
    manifest = {
        "name": name,
        "embedder": DEFAULT_EMBEDDER,
        "query_embedder": "",
        "state": state,
        "count": rows,
        "bm25_count": rows if state == "complete" else 0,
        "chunk_tokens": 200,
        "chunk_overlap": 32,
        "sources": [
            {
                "kind": "table",
                "location": str(source),
                "split": "train",
                "whole": True,
                "state": state,
                "snippets": rows,
            }
        ],
        "format": 2,
        "created": time.time(),
        "updated": time.time(),
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return SnippetIndex(name)


def test_a_format_2_index_is_migrated_on_open_and_keeps_its_snippets(tmp_path):
    source = notes(tmp_path / "notes.jsonl", 20)
    old = write_format2("format-two", source, 20)
    (old.root / f"{STORE}.partial").write_bytes(b"what a migration killed halfway leaves" * 50)
    index = SnippetIndex("format-two").open()
    assert "migrated from format 2 to 3" in index.migrated
    manifest = index.manifest()
    assert (manifest.format, manifest.state, manifest.count, manifest.bm25_count) == (3, "complete", 20, 20)
    assert not (old.root / f"{STORE}.partial").exists()
    snippets = list(index.iter_snippets())
    assert len(snippets) == 20 and {s.id for s in snippets} == {f"notes.jsonl:n{i}" for i in range(20)}
    warfarin = index.fetch(["notes.jsonl:n2"])["notes.jsonl:n2"]
    assert (warfarin.title, warfarin.source, warfarin.doc_id) == ("Warfarin", "notes.jsonl", "notes.jsonl:n2")
    assert warfarin.text.startswith("Note 2. Warfarin dosing")
    assert index.dense_ready and index.dense_search(embed(["How is warfarin monitored?"])[0], 1)[0][0] in {
        f"notes.jsonl:n{i}" for i in range(2, 20, len(TOPICS))
    }
    assert index.verify() == []
    again = SnippetIndex("format-two").open()
    assert again.migrated == ""  # once
    release(index)
    release(again)


def test_a_partial_format_2_index_migrates_and_rebuild_resumes_it(tmp_path):
    source = notes(tmp_path / "notes.jsonl", 24)
    write_format2("format-two-partial", source, 10, state="building")
    with pytest.raises(MedtuiError, match=r"only partly built \(10 snippets\)"):
        SnippetIndex("format-two-partial").open()
    assert SnippetIndex("format-two-partial").manifest().format == 3
    manifest = SnippetIndex("format-two-partial").rebuild()
    assert (manifest.state, manifest.count, manifest.bm25_count) == ("complete", 24, 24)
    index = SnippetIndex("format-two-partial").open()
    assert index.verify() == [] and index.collection().count() == 24
    release(index)


def test_verify_and_open_find_a_store_that_disagrees_with_bm25(tmp_path):
    index = SnippetIndex("store-drift")
    index.add([resolve_source(str(notes(tmp_path / "notes.jsonl", 12)), whole=True)])
    release(index)
    with sqlite3.connect(index.root / STORE) as db:
        db.execute("DELETE FROM snippets WHERE id = 'notes.jsonl:n3'")
    db.close()
    problems = SnippetIndex("store-drift").verify()
    assert "the snippet store holds 11 snippets, the manifest says 12" in problems
    assert "1 BM25 entries have no snippet (first: notes.jsonl:n3)" in problems
    assert "1 vectors have no snippet in the store (first: notes.jsonl:n3)" in problems
    with pytest.raises(MedtuiError, match="12 vectors, 11 snippets and 12 BM25 entries.*rebuild store-drift"):
        SnippetIndex("store-drift").open()
    manifest = SnippetIndex("store-drift").rebuild()  # complete but wrong: starts over
    assert (manifest.state, manifest.count, manifest.bm25_count) == ("complete", 12, 12)
    assert SnippetIndex("store-drift").open().verify() == []

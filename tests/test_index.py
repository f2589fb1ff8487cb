"""Named indexes on real text: build from local files and saved HF datasets, hybrid search,
resume after a killed process, duplicate adds, corrupt and old indexes, the CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medtui.core.datasource import read_rows
from medtui.core.errors import MedtuiError
from medtui.core.rag.index import SnippetIndex
from medtui.core.rag.retriever import Retriever, SearchOptions
from medtui.core.rag.sources import resolve_source

MEDTUI = [str(Path(sys.executable).with_name("medtui"))]


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(MEDTUI + list(args), capture_output=True, text=True, env=os.environ.copy(), timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert all(f in result.stderr for f in fragments), result.stderr


@pytest.fixture(scope="module")
def bioasq_index(bioasq_jsonl, indexes_dir) -> SnippetIndex:
    """600 real BioASQ gold snippets (already snippets: kept whole), built once."""
    index = SnippetIndex("bioasq-test", indexes_dir / "bioasq-test")
    index.add([resolve_source(str(bioasq_jsonl), whole=True)])
    return index


def test_build_and_hybrid_search_on_bioasq_snippets(bioasq_index, bioasq_jsonl):
    rows = read_rows(bioasq_jsonl)
    manifest = bioasq_index.manifest()
    assert manifest.state == "complete" and manifest.count == manifest.bm25_count == len(rows)
    retriever = Retriever(bioasq_index)
    target = rows[10]
    hits = retriever.search(target["text"][:200], k=5)
    assert hits[0].snippet.id == f"bioasq_snippets.jsonl:{target['id']}"
    assert hits[0].snippet.title == target["title"] and hits[0].snippet.source == "bioasq_snippets.jsonl"
    assert set(hits[0].scores) == {"dense", "bm25", "bm25n", "rrf"}  # every signal, for the gate
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_each_retriever_alone_and_fusion_combines_them(bioasq_index):
    question = "Which gene mutations cause cystic fibrosis?"
    dense = Retriever(bioasq_index, SearchOptions(bm25=False)).rank(question, 8)
    bm25 = Retriever(bioasq_index, SearchOptions(dense=False)).rank(question, 8)
    hybrid = Retriever(bioasq_index).rank(question, 8)
    # each mode ranks by its own retriever; BM25 scores every candidate anyway (the gate reads them),
    # and the dense score exists only where dense search runs
    assert all(set(h.scores) == {"dense", "bm25", "bm25n"} for h in dense)
    assert all(set(h.scores) == {"bm25", "bm25n"} for h in bm25)
    assert [h.scores["dense"] for h in dense] == sorted((h.scores["dense"] for h in dense), reverse=True)
    assert [h.scores["bm25"] for h in bm25] == sorted((h.scores["bm25"] for h in bm25), reverse=True)
    # a hit both retrievers rank highly beats one only a single retriever found
    both = {h.snippet.id for h in dense} & {h.snippet.id for h in bm25}
    assert both and hybrid[0].snippet.id in both
    with pytest.raises(MedtuiError, match="both retrievers are off"):
        SearchOptions(dense=False, bm25=False)


def test_bm25_matches_exact_rare_terms(bioasq_index, bioasq_jsonl):
    rows = read_rows(bioasq_jsonl)
    row = next(r for r in rows if "pembrolizumab" in r["text"].lower())
    hits = Retriever(bioasq_index, SearchOptions(dense=False)).search("pembrolizumab", 10)
    assert f"bioasq_snippets.jsonl:{row['id']}" in [h.snippet.id for h in hits]
    assert all("pembrolizumab" in h.snippet.text.lower() for h in hits)


def test_readding_a_source_duplicates_nothing(bioasq_index, bioasq_jsonl):
    before = bioasq_index.manifest().count
    start = time.monotonic()
    manifest = bioasq_index.add([resolve_source(str(bioasq_jsonl), whole=True)])
    assert manifest.count == before and len(manifest.sources) == 1
    assert time.monotonic() - start < 30  # nothing is embedded again


def test_saved_hf_dataset_in_medrag_format(tmp_path, bioasq_jsonl):
    """A local dataset saved with `datasets` (MedRAG's fields: id, title, content, contents)."""
    import datasets

    rows = read_rows(bioasq_jsonl)[:80]
    medrag = [
        {"id": f"med_{i}", "title": r["title"], "content": r["text"], "contents": f"{r['title']}. {r['text']}"}
        for i, r in enumerate(rows)
    ]
    folder = tmp_path / "medrag_like"
    datasets.Dataset.from_list(medrag).save_to_disk(str(folder))
    out = ok(run("index", "add", "medrag-like", str(folder)))
    assert "medrag-like: 80 snippets, complete" in out
    index = SnippetIndex("medrag-like").open()
    hit = Retriever(index).search(medrag[5]["content"], 1)[0]
    assert hit.snippet.id == "medrag_like:med_5" and hit.snippet.text == medrag[5]["content"]  # whole, not re-chunked
    assert hit.snippet.title == medrag[5]["title"]


def test_openstax_folder_and_medquad_jsonl_are_chunked_and_cited(tmp_path, shared_data):
    import gzip

    rows = read_rows(shared_data / "openstax_medical_textbooks" / "nutrition_for_nurses.jsonl.gz")
    folder = tmp_path / "notes"
    folder.mkdir()
    for row in rows[3:5]:
        (folder / f"{row['module']}.md").write_text(f"# {row['title']}\n{row['text']}", encoding="utf-8")
    medquad = tmp_path / "medquad.jsonl"
    with gzip.open(shared_data / "medquad" / "medquad_answered.jsonl.gz", "rt") as f:
        medquad.write_text("".join(next(f) for _ in range(20)), encoding="utf-8")
    out = ok(
        run(
            "index",
            "add",
            "mixed",
            str(folder),
            str(medquad),
            "--text-field",
            "answer",
            "--title-field",
            "question",
            "--chunk-tokens",
            "160",
        )
    )
    index = SnippetIndex("mixed").open()
    manifest = index.manifest()
    assert f"mixed: {manifest.count} snippets, complete" in out and manifest.chunk_tokens == 160
    assert [s["snippets"] for s in manifest.sources][0] > 2 * 2  # sections were chunked
    paragraph = max(rows[3]["text"].splitlines(), key=len)  # its longest paragraph
    hits = Retriever(index).search(paragraph[:300], 3)
    assert hits[0].snippet.source == "notes" and hits[0].snippet.doc_id == f"notes:{rows[3]['module']}.md"
    assert hits[0].snippet.title.startswith(rows[3]["title"])
    info = ok(run("index", "info", "mixed"))
    assert "health    ok" in info and "160 tokens" in info and "medquad.jsonl" in info
    listing = ok(run("index", "list"))
    assert "mixed" in listing and "complete" in listing


def test_killed_build_serves_keyword_search_then_resumes_to_the_clean_count(bioasq_jsonl, bioasq_index):
    """Killed in its dense phase (the keyword phase takes a second): served with BM25 meanwhile.
    A kill in the keyword phase is tests/test_index_phases.py's."""
    proc = subprocess.Popen(
        MEDTUI + ["index", "add", "killed", str(bioasq_jsonl), "--whole"],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    manifest_path = SnippetIndex("killed").manifest_path
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if manifest_path.exists() and json.loads(manifest_path.read_text()).get("count", 0) >= 128:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = json.loads(manifest_path.read_text())
    assert partial["state"] == "keyword" and 128 <= partial["count"] < 600 and partial["bm25_count"] == 600
    served = SnippetIndex("killed").open()
    assert not served.dense_ready and served.bm25_search("PD-L1", 3)
    served.close()
    out = ok(run("index", "rebuild", "killed"))
    clean = bioasq_index.manifest().count
    assert f"killed: {clean} snippets, complete" in out
    index = SnippetIndex("killed").open()
    assert index.manifest().count == index.collection().count() == clean


def test_ctrl_c_stops_with_the_resume_command(bioasq_jsonl):
    # As in a terminal: Ctrl-C delivered (a runner that started us in the background may ignore SIGINT).
    proc = subprocess.Popen(
        MEDTUI + ["index", "add", "interrupted", str(bioasq_jsonl), "--whole", "--limit", "400"],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    manifest_path = SnippetIndex("interrupted").manifest_path
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (
        manifest_path.exists() and json.loads(manifest_path.read_text()).get("count", 0) >= 128
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "medtui index rebuild interrupted" in err and "Traceback" not in err
    assert "interrupted: 400 snippets, complete" in ok(
        run("index", "add", "interrupted", str(bioasq_jsonl), "--whole", "--limit", "400")
    )


def test_cancel_leaves_a_resumable_partial_index(bioasq_jsonl):
    import threading

    from medtui.core.rag.index import Cancelled

    cancel = threading.Event()
    index = SnippetIndex("cancelled")

    def progress(done, total):
        if done >= 128:
            cancel.set()

    with pytest.raises(Cancelled, match="run it again to resume"):
        index.add([resolve_source(str(bioasq_jsonl), whole=True, limit=300)], progress=progress, cancel=cancel)
    assert index.manifest().state == "building"
    manifest = index.add([resolve_source(str(bioasq_jsonl), whole=True, limit=300)])
    assert manifest.state == "complete" and manifest.count == 300


def test_corrupt_and_old_indexes_give_the_rebuild_command(bioasq_jsonl):
    index = SnippetIndex("broken")
    index.add([resolve_source(str(bioasq_jsonl), whole=True, limit=40)])
    index.close()  # the store is damaged between runs, as a crash or a bad disk would
    (index.root / "chroma" / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    fresh = SnippetIndex("broken")
    with pytest.raises(MedtuiError, match=r"corrupt.*medtui index rebuild broken"):
        fresh.open()
    one_line_error(run("ask", "What is PD-L1?", "--index", "broken"), "corrupt", str(index.root))
    assert "broken: 40 snippets, complete" in ok(run("index", "rebuild", "broken"))
    SnippetIndex("broken").open()

    manifest = json.loads(index.manifest_path.read_text())
    manifest["format"] = 1
    index.manifest_path.write_text(json.dumps(manifest))
    one_line_error(run("ask", "What is PD-L1?", "--index", "broken"), "format 1", "medtui index rebuild broken")
    index.manifest_path.write_text("{not json")
    one_line_error(run("index", "info", "broken"), "corrupt index manifest", str(index.manifest_path))


def test_a_json_array_is_indexed_and_read_back_in_batches(tmp_path):
    """The JSON array training accepts (`medtui train sft -d rows.json`) indexes too."""
    texts = [
        "Gout is an inflammatory arthritis caused by urate crystals in the joint.",
        "Allopurinol lowers serum urate by inhibiting xanthine oxidase.",
        "Colchicine relieves an acute gout flare when started early.",
        "Pseudogout is caused by calcium pyrophosphate crystals instead.",
        "A tophus is a deposit of urate crystals under the skin.",
    ]
    rows = [{"id": f"r{i}", "title": f"Gout note {i}", "text": t} for i, t in enumerate(texts)]
    path = tmp_path / "gout.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    spec = resolve_source(str(path), whole=True)
    assert spec.kind == "table"
    index = SnippetIndex("json-array")
    assert index.add([spec]).count == len(rows)
    snippets = list(index.open().iter_snippets(batch=2))  # three pages
    assert sorted((s.id, s.title, s.text) for s in snippets) == [
        (f"gout.json:{r['id']}", r["title"], r["text"]) for r in rows
    ]
    assert {s.id: s for s in snippets} == index.fetch([s.id for s in snippets])
    index.close()


def test_bad_sources_are_one_line_errors(tmp_path):
    one_line_error(run("index", "add", "x", str(tmp_path / "missing.jsonl")), "no such file or folder")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{oops\n', encoding="utf-8")
    one_line_error(run("index", "add", "x", str(bad)), f"{bad}:2", "not a JSON line")
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("a,b\n1,2\n", encoding="utf-8")
    one_line_error(run("index", "add", "y", str(nocol)), "no text column", "--text-field")
    one_line_error(run("index", "add", "z", "MedRAG/textbooks", "--offline"), "cannot load dataset 'MedRAG/textbooks'")
    one_line_error(run("index", "info", "nope"), "index 'nope' not found")
    one_line_error(run("index", "remove", "nope"), "index 'nope' not found")


def _pdf(path: Path, lines: list[str]) -> Path:
    """A minimal one-page PDF with real text objects (what a PDF writer would produce)."""
    content = "BT /F1 12 Tf 72 720 Td " + " ".join(f"({line}) Tj 0 -16 Td" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)
    return path


def test_pdf_and_text_files_in_a_folder(tmp_path):
    docs = tmp_path / "handouts"
    docs.mkdir()
    _pdf(docs / "warfarin.pdf", ["Warfarin dosing is monitored with the INR.", "Vitamin K reverses warfarin."])
    (docs / "asthma.txt").write_text(
        "Asthma\n\nInhaled corticosteroids are the mainstay of asthma control.\n", encoding="utf-8"
    )
    ok(run("index", "add", "handouts", str(docs)))
    index = SnippetIndex("handouts").open()
    assert index.manifest().count == 2
    hit = Retriever(index).search("How is warfarin monitored?", 1)[0]
    assert (
        hit.snippet.doc_id == "handouts:warfarin.pdf" and "INR" in hit.snippet.text and hit.snippet.title == "warfarin"
    )
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    one_line_error(run("index", "add", "handouts2", str(docs)), "broken.pdf", "unreadable PDF")


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    """A randomly initialised BERT cross-encoder with MiniLM's vocabulary, saved as a folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from medtui.core.assets import asset_path

    folder = tmp_path_factory.mktemp("cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(asset_path("minilm")))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def test_cross_encoder_rerank_orders_by_its_own_score(bioasq_index, tiny_cross_encoder):
    question = "Which gene mutations cause cystic fibrosis?"
    plain = Retriever(bioasq_index).rank(question, 5)
    reranked = Retriever(bioasq_index, SearchOptions(reranker=str(tiny_cross_encoder))).rank(question, 5)
    assert all({"rrf", "rerank"} <= set(h.scores) for h in reranked)  # fused candidates, then reranked
    scores = [h.scores["rerank"] for h in reranked]
    assert scores == sorted(scores, reverse=True) and [h.score for h in reranked] == scores
    assert [h.snippet.id for h in reranked] != [h.snippet.id for h in plain]  # a random cross-encoder reorders


def test_separate_query_encoder_is_recorded_and_used(bioasq_jsonl):
    from medtui.core.assets import asset_path

    query_encoder = str(asset_path("minilm"))  # any sentence-transformers folder: here MiniLM by path
    index = SnippetIndex("two-encoders")
    index.add([resolve_source(str(bioasq_jsonl), whole=True, limit=50)], query_embedder=query_encoder)
    retriever = Retriever(index)
    assert index.manifest().query_embedder == query_encoder and retriever.query_embedder == query_encoder
    row = read_rows(bioasq_jsonl)[7]
    assert retriever.search(row["text"], 1)[0].snippet.id.endswith(row["id"])

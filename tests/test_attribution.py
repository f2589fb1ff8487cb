"""Sentence attribution (docs/grounding.md §8): sentences split as a reader would, citations read
and checked, and each sentence linked to the passage that supports it or flagged, with the real
embedder and calibrated rule; on the real default model and index, `ask --json`, the history and
the Markdown export carry the same links."""

import json
import re
import sqlite3

import pytest

import medtui.chat.attribution as chat_attribution
import medtui.core.rag.attribution as core_attribution
from medtui.chat.answer_record import sentence_entry
from medtui.chat.attribution import (
    UNSUPPORTED_MARK,
    attribute_answer,
    attribution_notices,
    markdown_answer,
    rewrite,
    support_notices,
)
from medtui.chat.export import conversation_markdown
from medtui.chat.service import ChatService, Done, Sources, source_records
from medtui.core.config import Settings
from medtui.core.errors import MedtuiError
from medtui.core.history import History
from medtui.core.rag.attribution import (
    CROSS_WINDOWS,
    UNSUPPORTED,
    CrossRule,
    Sentence,
    attribution_rule,
    read_citations,
    split_sentences,
)
from medtui.core.rag.embedder import DEFAULT_EMBEDDER
from medtui.core.rag.gate import Rule
from medtui.core.rag.reranker import load_reranker, score_pairs
from medtui.core.records import MessageStatus
from medtui.core.wiring import open_engine, open_retriever
from tests import test_index
from tests.test_cli import run

tiny_cross_encoder = test_index.tiny_cross_encoder  # the fixture: a random BERT cross-encoder folder
METFORMIN = "Metformin remains the preferred initial pharmacologic agent for most people with type 2 diabetes."
SOURCES = [
    {"n": 1, "text": f"Recommendation 9.4. {METFORMIN} It is effective, safe and inexpensive."},
    {"n": 2, "text": "Sulfonylureas increase insulin secretion. Hypoglycaemia is their main adverse effect."},
]


def pieces(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_sentences_split_as_a_reader_reads_them():
    text = (
        "Give 2.5 mg daily, e.g. with food. Dr. Smith agrees [1]. Take vitamin K. The answer is no. Then stop!\n"
        "- First item without a full stop\n"
        "2. Second item [2]–[3].\n\n"
        "## Dosing"
    )
    assert pieces(text) == [
        "Give 2.5 mg daily, e.g. with food.",
        "Dr. Smith agrees [1].",
        "Take vitamin K.",
        "The answer is no.",
        "Then stop!",
        "First item without a full stop",
        "Second item [2]–[3].",
        "Dosing",
    ]


def test_citations_are_read_in_every_form_and_taken_out_of_the_text():
    assert read_citations("Aspirin thins blood [1].") == ("Aspirin thins blood.", [1])
    assert read_citations("A [1, 3] and B [2-4].") == ("A and B.", [1, 3, 2, 4])
    assert read_citations("C [5]–[8].") == ("C.", [5, 6, 7, 8])
    assert read_citations("No citation here.") == ("No citation here.", [])


def test_a_copied_sentence_is_linked_a_made_up_one_flagged_and_a_missing_number_removed():
    answer = (
        f"{METFORMIN} [2]\n"  # copied from source 1, but cited to 2
        "The target blood pressure is 180 mmHg to 200 mmHg [1].\n"  # no source says so
        "Hypoglycaemia is the main adverse effect of sulfonylureas [7].\n"  # source 2; there is no source 7
        "Sure!\n"
        "Metformin treatment of type 2 diabetes includes the following:"  # a lead-in, not a claim
    )
    metformin, pressure, sulfonylurea, sure, lead_in = attribute_answer(answer, SOURCES)
    assert metformin.sources[0] == 1 and 2 not in metformin.sources
    assert metformin.flags == ("cited 2, which does not support it",)
    n, start, end = metformin.spans[0]
    assert SOURCES[0]["text"][start:end] == METFORMIN  # the supporting span, to highlight
    assert pressure.sources == () and pressure.unsupported
    assert pressure.flags == (UNSUPPORTED, "cited 1, which does not support it")
    assert sulfonylurea.sources == (2,) and sulfonylurea.removed == (7,)
    assert sulfonylurea.flags == ("cited 7, which does not exist (removed)",)
    assert not sure.checked and sure.flags == ()  # too short to claim anything: never flagged
    assert not lead_in.checked and lead_in.sources == () and lead_in.flags == ()  # its words are in source 1

    plain = rewrite(answer, [metformin, pressure, sulfonylurea, sure, lead_in])
    assert plain.splitlines() == [
        f"{METFORMIN[:-1]} [1]. [cited 2, which does not support it]",
        f"The target blood pressure is 180 mmHg to 200 mmHg. [{UNSUPPORTED}; cited 1, which does not support it]",
        "Hypoglycaemia is the main adverse effect of sulfonylureas [2]. [cited 7, which does not exist (removed)]",
        "Sure!",
        "Metformin treatment of type 2 diabetes includes the following:",
    ]
    assert f"_[{UNSUPPORTED}; cited 1" in markdown_answer(answer, [metformin, pressure, sulfonylurea, sure, lead_in])


def test_a_sentence_record_round_trips_and_the_schema_keeps_its_keys():
    sentence = attribute_answer(METFORMIN, SOURCES)[0]
    assert Sentence.from_dict(json.loads(json.dumps(sentence.to_dict()))) == sentence
    assert sentence_entry(sentence.to_dict()) == {
        "text": METFORMIN,
        "sources": [1],
        "support": round(sentence.support, 4),
        "flags": [],
    }


def test_an_uncalibrated_embedder_gets_the_lexical_rule():
    rule, why = attribution_rule("some/other-embedder")
    assert set(rule.weights) == {"lexical"} and "not calibrated" in why
    _, why = attribution_rule("all-MiniLM-L6-v2")
    assert why.startswith("bench/attribution.py")  # fitted, and says how


def test_a_number_the_passage_does_not_state_is_never_supported():
    """The issue's own example: a made-up target on a passage about blood pressure targets."""
    sources = [{"n": 1, "text": "A blood pressure target of less than 130/80 mm Hg is recommended for most adults."}]
    made_up, stated = attribute_answer(
        "The target blood pressure is 180 mmHg to 200 mmHg. The blood pressure target is below 130/80 mm Hg.", sources
    )
    assert made_up.unsupported and made_up.support == 0.0
    assert stated.sources == (1,)


def test_a_sentence_that_negates_its_source_is_never_supported():
    """Every content word matches, so only the negation tells them apart."""
    negated = METFORMIN.replace("remains", "does not remain")
    denied, stated = attribute_answer(f"{negated} {METFORMIN}", SOURCES)
    assert denied.unsupported and denied.support == 0.0
    assert stated.sources == (1,)
    double = [{"n": 1, "text": "Metformin is not recommended when the eGFR is below 30 in adults with diabetes."}]
    (kept,) = attribute_answer("Metformin is not recommended when eGFR is below 30 in diabetes.", double)
    assert kept.sources == (1,)  # negated on both sides


def test_an_older_history_gains_the_sentences_column(tmp_path):
    path = tmp_path / "history.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',"
        " created REAL NOT NULL, updated REAL NOT NULL);"
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL, role TEXT NOT NULL,"
        " content TEXT NOT NULL, sources TEXT NOT NULL DEFAULT '[]', status TEXT NOT NULL DEFAULT 'complete',"
        " model TEXT NOT NULL DEFAULT '', created REAL NOT NULL);"
        "INSERT INTO conversations VALUES (1, 'old', 'm', 0, 0);"
        "INSERT INTO messages VALUES (1, 1, 'assistant', 'An old answer.', '[]', 'complete', 'm', 0);"
    )
    old.commit()
    old.close()
    history = History(path)
    assert history.messages(1)[0].sentences == []
    history.set_sentences(1, [{"text": "An old answer."}])
    assert history.messages(1)[0].sentences == [{"text": "An old answer."}]


def calibrate_cross(monkeypatch, tmp_path, reranker: str, threshold: float) -> None:
    """A calibration file (a copy of the packaged one) whose rule for `reranker` is `cross ≥ threshold`,
    its windows picked by the packaged rule, written as bench/attribution.py --write writes it."""
    data = json.loads(core_attribution.CALIBRATION.read_text(encoding="utf-8"))
    select, _ = attribution_rule(DEFAULT_EMBEDDER)
    entry = CrossRule(Rule({"cross": 1.0}, threshold), select).to_dict(DEFAULT_EMBEDDER, "a test")
    data["cross_encoders"] = {reranker: entry}
    path = tmp_path / "attribution_calibration.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(core_attribution, "CALIBRATION", path)


MOON = "The moon is made of green cheese and orbits Jupiter."  # no source says so: the lexical rule flags it


def test_a_calibrated_cross_encoder_scores_the_best_windows_and_its_rule_decides(
    monkeypatch, tmp_path, tiny_cross_encoder
):
    reranker = str(tiny_cross_encoder)
    answer = f"{METFORMIN} {MOON}"
    plain = attribute_answer(answer, SOURCES, reranker=reranker)  # configured, not calibrated: the packaged rule
    assert plain == attribute_answer(answer, SOURCES)
    assert plain[0].sources == (1,) and plain[1].unsupported
    calls = []
    monkeypatch.setattr(
        chat_attribution, "score_pairs", lambda name, pairs: calls.append(pairs) or score_pairs(name, pairs)
    )

    calibrate_cross(monkeypatch, tmp_path, reranker, 1.5)  # a sigmoid never reaches it
    assert all(s.unsupported for s in attribute_answer(answer, SOURCES, reranker=reranker))
    (pairs,) = calls  # one batch for the whole answer
    # not every window (8 per sentence): the packaged rule's best two per passage that pass the
    # vetoes (source 2 does not state METFORMIN's "type 2")
    assert len(pairs) == (1 + len(SOURCES)) * CROSS_WINDOWS
    assert (METFORMIN, METFORMIN) in pairs  # the copied sentence read with the window it was copied from

    calibrate_cross(monkeypatch, tmp_path, reranker, 0.0)  # every score reaches it
    linked = attribute_answer(answer, SOURCES, reranker=reranker)
    assert [sorted(s.sources) for s in linked] == [[1], [1, 2]]  # the vetoes still apply first
    n, start, end = linked[1].spans[0]
    assert linked[1].support == pytest.approx(score_pairs(reranker, [(MOON, SOURCES[n - 1]["text"][start:end])])[0])
    assert attribution_notices(reranker) == []


def test_a_configured_but_uncalibrated_cross_encoder_is_named_once_with_what_to_do(monkeypatch, tiny_cross_encoder):
    reranker = str(tiny_cross_encoder)
    (notice,) = attribution_notices(reranker)
    assert notice == (
        f"attribution does not use reranker {reranker}: it has no calibration (run bench/attribution.py "
        f"--cross-encoder {reranker} --write on a machine that has it)"
    )
    assert attribution_notices("") == []
    monkeypatch.setenv("MEDTUI_RERANKER", reranker)
    doctor = run("doctor").stdout.decode()
    assert doctor.count(notice) == 1, doctor


def test_a_mistyped_reranker_path_is_one_line_before_anything_loads(tmp_path):
    """A path that is not there used to reach the Hub client and come back as nine lines of its rules
    for repo names; it is said in one line, by the loader and by doctor's notice alike."""
    missing = str(tmp_path / "no-such-cross-encoder")
    with pytest.raises(MedtuiError) as error:
        load_reranker(missing)
    message = str(error.value)
    assert "\n" not in message and "neither a folder nor a Hub id" in message and 'or to "" for none' in message
    assert attribution_notices(missing) == [message]


@pytest.fixture(scope="module")
def answered(default_index):
    """A real answer from the default model over the default index, then an answer text written
    to test each case, attributed against that answer's real sources and kept in the history."""
    settings = Settings(max_tokens=24, temperature=0.0)
    service = ChatService(settings, open_engine(settings), History(), open_retriever(settings))
    conversation = service.history.new_conversation("diabetes", "smollm2")
    events = list(service.answer(conversation, "What is the first-line drug treatment for type 2 diabetes?"))
    sources = next(e for e in events if isinstance(e, Sources))
    done = next(e for e in events if isinstance(e, Done))
    records = source_records(sources.hits)
    copied = next(r for r in records if "metformin" in r["text"].lower())
    sentence = next(s for s in pieces(copied["text"]) if "metformin" in s.lower() and len(s.split()) > 5)
    invented = re.sub("metformin", "glucozepam", sentence, flags=re.IGNORECASE)  # a drug no snippet names
    text = f"{sentence} [{len(records) + 3}]\nThe moon is made of green cheese and orbits Jupiter.\n{invented}"
    service.history.update_message(done.message_id, text, MessageStatus.COMPLETE)
    crafted = Done(done.message_id, text, MessageStatus.COMPLETE)
    return service, conversation, crafted, sources, copied, service.attribute(crafted, sources)


def test_on_the_real_index_a_copied_sentence_links_and_a_made_up_one_is_flagged(answered):
    service, conversation, done, sources, copied, sentences = answered
    first, second, invented = sentences
    assert first.sources[0] == copied["n"] and first.removed == (len(sources.hits) + 3,)
    assert second.unsupported
    assert invented.unsupported and invented.support == 0.0  # its key term is in no snippet of the index
    kept = service.history.messages(conversation)[-1].sentences
    assert [Sentence.from_dict(d) for d in kept] == sentences
    markdown = conversation_markdown(service.history, conversation)
    assert f"[{copied['n']}]" in markdown and f"_{UNSUPPORTED_MARK}_" in markdown
    assert f"[{len(sources.hits) + 3}]" not in markdown.split("**Sources**")[0]  # the missing number is gone
    assert "2 of 3 sentences are supported by no source" in markdown


def test_retrieval_off_or_no_answer_text_is_not_attributed(answered):
    service, _, done, sources, _, _ = answered
    assert service.attribute(done, Sources([], grounded=None)) == []
    assert service.attribute(Done(done.message_id, "", MessageStatus.EMPTY), sources) == []


def test_ask_json_the_history_and_the_export_carry_the_same_links(diabetes_answer, monkeypatch):
    payload, data_dir = diabetes_answer
    monkeypatch.setenv("MEDTUI_DATA_DIR", str(data_dir))  # the history that `ask` recorded
    assert payload["sentences"], payload["answer"]
    numbers = {s["n"] for s in payload["sources"]}
    for entry in payload["sentences"]:
        assert set(entry) == {"text", "sources", "support", "flags"}
        assert set(entry["sources"]) <= numbers
        assert (UNSUPPORTED in entry["flags"]) == (entry["support"] is not None and not entry["sources"])
    history = History()
    conversation = history.conversations()[0]
    message = history.messages(conversation.id)[-1]
    assert [sentence_entry(d) for d in message.sentences] == payload["sentences"]
    assert set(support_notices([Sentence.from_dict(d) for d in message.sentences])) <= set(payload["notices"])
    markdown = conversation_markdown(history, conversation.id)
    sentences = [Sentence.from_dict(d) for d in message.sentences]
    assert markdown_answer(payload["answer"], sentences) in markdown


def test_the_support_notices_agree_in_number():
    """The review read "1 of 1 sentences are supported by no source"."""
    from medtui.chat.attribution import support_notices

    unsupported = Sentence("No source says this.", 0, 20, checked=True)
    miscited = Sentence("Source 1 says this.", 21, 40, checked=True, sources=(1,), cited=(3,))
    assert support_notices([unsupported], "⚠") == ["its one sentence is supported by no source: marked ⚠"]
    two = support_notices([unsupported, miscited], "⚠")
    assert two == [
        "1 of 2 sentences is supported by no source: marked ⚠",
        "1 of 2 sentences cites a source that does not support it or is missing: marked",
    ]

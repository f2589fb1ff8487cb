"""Grounded answers on the real default model and index, as a user gets them from `medtui ask`
and from the chat service: the right passages in, off-topic ones out, follow-ups in context,
and every answer labelled for how it ended (docs/grounding.md)."""

import json

from medtui.chat.service import ChatService, Done, Sources
from medtui.core.config import Settings
from medtui.core.history import History
from medtui.core.records import MessageStatus
from medtui.core.wiring import open_engine, open_retriever
from tests.test_cli import run


def ask_json(*args: str) -> dict:
    result = run("ask", "--json", "--temperature", "0", *args)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_the_diabetes_question_retrieves_a_guideline_that_names_metformin(diabetes_answer):
    payload, _ = diabetes_answer
    assert payload["grounded"] is True
    guideline = [s for s in payload["sources"] if s["source"] == "open-medicine"]
    assert any("metformin" in s["text"].lower() for s in guideline), [s["title"] for s in payload["sources"]]
    assert all("doi:" in s["reference"] for s in guideline)
    assert (
        payload["disclaimer"].startswith("Not medical advice") and payload["sentences"]
    )  # attributed: tests/test_attribution.py


def test_an_off_topic_question_passes_nothing_through_the_gate_and_says_so(default_index):
    payload = ask_json("How do I change a car tyre?", "--max-tokens", "8")
    assert payload["sources"] == [] and payload["grounded"] is False
    assert "no source in default covers this question" in payload["notices"]
    assert "not grounded in your sources" in payload["notices"]


def test_an_answer_that_hits_max_tokens_is_labelled_cut(default_index):
    payload = ask_json("What are the symptoms of diabetic ketoacidosis?", "--max-tokens", "3")
    assert payload["status"] == "cut"
    assert any(n.startswith("cut at the token limit (3 tokens)") for n in payload["notices"])


def test_require_sources_refuses_instead_of_answering(default_index, monkeypatch):
    monkeypatch.setenv("MEDTUI_REQUIRE_SOURCES", "1")
    payload = ask_json("How do I change a car tyre?")
    assert payload["status"] == "refused" and payload["answer"].startswith("No source in default covers")
    plain = run("ask", "How do I change a car tyre?")
    assert "no source in default covers this question" in plain.stderr.decode()
    assert "Not medical advice" in plain.stderr.decode()


def test_a_follow_up_is_retrieved_with_its_topic_and_empty_turns_are_not_fed_back(default_index):
    settings = Settings(max_tokens=12, temperature=0.0)
    service = ChatService(settings, open_engine(settings), History(), open_retriever(settings))
    conversation = service.history.new_conversation("warfarin", "smollm2")
    list(service.answer(conversation, "How is warfarin therapy monitored?"))
    events = list(service.answer(conversation, "What are its side effects?"))
    sources = next(e for e in events if isinstance(e, Sources))
    assert sources.query.startswith("How is warfarin therapy monitored?")
    assert any("warfarin" in h.snippet.text.lower() for h in sources.hits)
    # an empty answer (and its question) never goes back into the next prompt
    first = service.history.messages(conversation)[1]
    service.history.update_message(first.id, "The answer is:", MessageStatus.EMPTY)
    turns, questions = service._past(conversation)
    assert "How is warfarin therapy monitored?" not in [t["content"] for t in turns]
    assert questions[0] == "How is warfarin therapy monitored?"  # still what a follow-up is searched with
    done = next(e for e in events if isinstance(e, Done))
    assert done.status in (MessageStatus.COMPLETE, MessageStatus.CUT, MessageStatus.EMPTY)

"""One contract, both engines: streaming, stopping and scoring behave the same on llama.cpp
(the packaged SmolLM2 GGUF) and transformers (a tiny random Llama folder).

The caller's cancel token is only read by an engine: a complete answer leaves it unset, so the
chat never stores a finished answer as stopped and an eval never sees every answer after the
first one as empty (both happened when the transformers engine set the caller's event).
"""

import math
import threading

import pytest

from evals.runner import run_task
from evals.store import RunStore
from evals.tasks import TASKS
from medtui.chat.service import ChatService
from medtui.core.config import Settings
from medtui.core.engines import GenerationParams, load_engine
from medtui.core.history import History
from medtui.core.registry import Registry, spec_from_source

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is anaemia?"}]
GREEDY = GenerationParams(max_tokens=12, temperature=0.0)


@pytest.fixture(scope="module", params=["gguf", "hf"])
def engine(request, tiny_hf_model):
    spec = Registry().get("smollm2") if request.param == "gguf" else spec_from_source("tiny", str(tiny_hf_model))
    engine = load_engine(spec, Settings(n_ctx=1024))
    yield engine
    engine.close()


def test_a_complete_answer_leaves_the_callers_token_unset(engine):
    cancel = threading.Event()
    pieces = list(engine.stream(engine.render_chat(MESSAGES), GREEDY, cancel))
    assert pieces and not cancel.is_set()
    assert list(engine.stream(engine.render_chat(MESSAGES), GREEDY, cancel)) == pieces  # greedy is reproducible


def test_cancel_stops_the_stream_and_the_next_one_runs_whole(engine):
    cancel = threading.Event()
    received = []
    long = GenerationParams(max_tokens=64, temperature=0.0)
    for piece in engine.stream(engine.render_chat(MESSAGES), long, cancel):
        received.append(piece)
        if len(received) == 3:
            cancel.set()
    assert len(received) == 3
    again = list(engine.stream(engine.render_chat(MESSAGES), GREEDY, threading.Event()))
    assert "".join(again).startswith("".join(received[:2]))


def test_a_reader_that_stops_early_does_not_touch_the_token(engine):
    cancel = threading.Event()
    stream = engine.stream(engine.render_chat(MESSAGES), GenerationParams(max_tokens=64, temperature=0.0), cancel)
    next(stream)
    stream.close()
    assert not cancel.is_set()
    assert list(engine.stream(engine.render_chat(MESSAGES), GREEDY, cancel))


def test_letter_scores_are_log_probabilities_of_one_token(engine):
    prompt = engine.render_chat(MESSAGES) + "Answer:"
    ids = [engine.tokenize(prompt + " " + x)[len(engine.tokenize(prompt))] for x in "AB"]
    row = engine.next_token_logprobs([prompt], ids)[0]
    assert all(v <= 0 for v in row) and sum(math.exp(v) for v in row) <= 1
    assert row == pytest.approx([engine.continuation_logprob(prompt, " " + x) for x in "AB"], abs=1e-3)


def test_a_complete_hf_chat_answer_is_stored_complete(tiny_hf_model):
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    settings = Settings(model="tiny", rag=False, max_tokens=8, temperature=0.0)
    engine = load_engine(Registry().get("tiny"), settings)
    history = History()
    conversation = history.new_conversation("q")
    try:
        events = list(ChatService(settings, engine, history, None).answer(conversation, "What is anaemia?"))
    finally:
        engine.close()
    assert not events[-1].cancelled
    assert [m.status for m in history.messages(conversation)] == ["complete", "complete"]


def test_hf_generate_mode_answers_every_question_and_completes(tiny_hf_model, tmp_path):
    engine = load_engine(spec_from_source("tiny", str(tiny_hf_model)), Settings(n_ctx=1024))
    store = RunStore(tmp_path / "evals")
    params = GenerationParams(max_tokens=6, temperature=0.0)
    try:
        four = run_task(engine, TASKS["mmlu_anatomy"], mode="generate", limit=4, store=store, params=params)
        twenty = run_task(engine, TASKS["mmlu_anatomy"], mode="generate", limit=20, store=store, params=params)
    finally:
        engine.close()
    assert [len(p.output) > 0 for p in four.predictions] == [True] * 4
    assert not twenty.cancelled and len(twenty.predictions) == 20  # more than one chunk of 16
    assert all(p.output for p in twenty.predictions)
    assert {r.state for r in store.runs()} == {"complete"}

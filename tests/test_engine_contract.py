"""One contract, both engines: streaming, stopping and scoring behave the same on llama.cpp
(the packaged SmolLM2 GGUF) and transformers (a tiny random Llama folder).

The caller's cancel token is only read by an engine: a complete answer leaves it unset, so the
chat never stores a finished answer as stopped and an eval never sees every answer after the
first one as empty (both happened when the transformers engine set the caller's event).
A stream returns why it ended (`Finish`): the model stopped, max_tokens ran out, or the caller
cancelled; a cut answer was once labelled "stopped" on transformers and not at all on llama.cpp.
"""

import math
import threading
from contextlib import contextmanager

import pytest

from evals.runner import run_task
from evals.store import RunStore
from evals.tasks import TASKS
from medtui.chat.service import ChatService
from medtui.core.config import Settings
from medtui.core.engines import GenerationParams, load_engine
from medtui.core.engines.base import Finish
from medtui.core.history import History
from medtui.core.rag.prompt import messages_for
from medtui.core.registry import Registry, spec_from_source

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is anaemia?"}]
GREEDY = GenerationParams(max_tokens=12, temperature=0.0)
# SmolLM2 ends this itself at temperature 0 ("The capital of France is Paris.", 7 tokens); with
# "Be brief." as the system message it loops "la femme de France" instead.
SHORT = [
    {"role": "system", "content": "Answer in one sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


@contextmanager
def ending_on_greedy_token(engine, prompt: str, n: int):
    """A tiny random model never picks its EOS: make the n-th token it writes greedily an end token
    too (generation_config.eos_token_id as a list), so generate() really ends on an EOS there."""
    config = engine.model.generation_config
    encoded = engine._encode(prompt)
    out = engine.model.generate(
        **encoded, max_new_tokens=n, do_sample=False, pad_token_id=engine.tokenizer.eos_token_id
    )
    original = config.eos_token_id
    earlier = original if isinstance(original, list) else [] if original is None else [original]
    config.eos_token_id = [*earlier, int(out[0, -1])]
    try:
        yield
    finally:
        config.eos_token_id = original


def drain(stream, on_piece=lambda pieces: None) -> tuple[list[str], Finish]:
    """Every piece of a stream and the Finish it returns; `on_piece` sees the pieces so far."""
    pieces: list[str] = []
    while True:
        try:
            pieces.append(next(stream))
        except StopIteration as end:
            return pieces, end.value
        on_piece(pieces)


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
    long = GenerationParams(max_tokens=64, temperature=0.0)
    received, finish = drain(
        engine.stream(engine.render_chat(MESSAGES), long, cancel), lambda p: len(p) == 3 and cancel.set()
    )
    assert len(received) == 3 and finish is Finish.CANCELLED
    again, finish = drain(engine.stream(engine.render_chat(MESSAGES), GREEDY, threading.Event()))
    assert "".join(again).startswith("".join(received[:2]))
    assert finish is Finish.LENGTH  # the next one is not cancelled: it runs to max_tokens


def test_a_stream_cut_by_max_tokens_returns_length(engine):
    pieces, finish = drain(engine.stream(engine.render_chat(MESSAGES), GREEDY, threading.Event()))
    assert pieces and finish is Finish.LENGTH


def test_a_stream_that_ends_by_itself_returns_stop(engine):
    prompt = engine.render_chat(SHORT)
    params = GenerationParams(max_tokens=200, temperature=0.0)
    if engine.spec.kind == "gguf":
        pieces, finish = drain(engine.stream(prompt, params, threading.Event()))
        assert finish is Finish.STOP and "Paris" in "".join(pieces)
        return
    with ending_on_greedy_token(engine, prompt, 3):
        pieces, finish = drain(engine.stream(prompt, params, threading.Event()))
    assert finish is Finish.STOP and len(pieces) <= 3


def test_sampling_knobs_reach_the_model(engine):
    prompt = engine.render_chat(MESSAGES)
    greedy = "".join(engine.stream(prompt, GREEDY, threading.Event()))
    hot = GenerationParams(max_tokens=12, temperature=1.5, seed=1)
    assert "".join(engine.stream(prompt, hot, threading.Event())) != greedy  # uncut, hot sampling wanders
    for cut in ({"top_k": 1}, {"min_p": 1.0}):  # ... and a cut to the likeliest token makes it greedy
        narrow = GenerationParams(max_tokens=12, temperature=1.5, seed=1, **cut)
        assert "".join(engine.stream(prompt, narrow, threading.Event())) == greedy, cut


def test_a_repeat_penalty_reaches_the_model_in_greedy_decoding_too(engine, monkeypatch):
    prompt = engine.render_chat(MESSAGES)
    penalised = GenerationParams(max_tokens=32, temperature=0.0, repeat_penalty=2.0, presence_penalty=0.5)
    if engine.spec.kind == "gguf":  # SmolLM2 repeats words within 32 tokens: the penalty changes them
        plain = GenerationParams(max_tokens=32, temperature=0.0)
        assert "".join(engine.stream(prompt, penalised, threading.Event())) != "".join(
            engine.stream(prompt, plain, threading.Event())
        )
        return
    # A random model never picks a token twice in 32, so the penalty has nothing to change there:
    # check what generate() is given instead (transformers has no presence penalty: not passed).
    seen: dict = {}
    generate = engine.model.generate
    monkeypatch.setattr(engine.model, "generate", lambda **kw: seen.update(kw) or generate(**kw))
    assert list(engine.stream(prompt, penalised, threading.Event()))
    assert seen["repetition_penalty"] == 2.0 and seen["do_sample"] is False and "presence_penalty" not in seen


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
    # repeat_penalty 1.0: plain greedy, whichever sampling defaults the chat adds
    settings = Settings(model="tiny", rag=False, max_tokens=8, temperature=0.0, repeat_penalty=1.0)
    engine = load_engine(Registry().get("tiny"), settings)
    history = History()
    conversation = history.new_conversation("q")
    question = "What is anaemia?"
    prompt = engine.render_chat(
        messages_for(settings.system_prompt, [], question, [], settings.prompt_layout)
    )  # what the chat sends
    try:
        with ending_on_greedy_token(engine, prompt, 5):  # an answer that ends, not one cut at max_tokens
            events = list(ChatService(settings, engine, history, None).answer(conversation, question))
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

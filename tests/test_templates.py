"""Hostile chat templates: every failure is one line naming the model, in bounded time and size."""

import threading
import time

import pytest

from medtui.core.config import Settings
from medtui.core.engines import chat_template as ct
from medtui.core.engines import load_engine
from medtui.core.engines.chat_template import render_chat
from medtui.core.errors import MedtuiError
from medtui.core.registry import spec_from_source

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is anaemia?"}]
RUNAWAY = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


def _refusal(template: str, model: str = "evil-model") -> str:
    with pytest.raises(MedtuiError) as caught:
        render_chat(template, MESSAGES, model=model)
    message = str(caught.value)
    assert "\n" not in message and model in message
    return message


def _template_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "chat-template"]


def test_default_template_renders_as_before():
    assert render_chat(None, MESSAGES) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is anaemia?<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.timeout(30)
def test_runaway_loop_is_stopped_at_the_deadline(monkeypatch):
    monkeypatch.setattr(ct, "TIME_LIMIT_S", 1.0)
    start = time.monotonic()
    assert "took over 1 s" in _refusal(RUNAWAY)
    assert time.monotonic() - start < 5
    deadline = time.monotonic() + 5
    while _template_threads() and time.monotonic() < deadline:  # the worker is stopped, not left spinning
        time.sleep(0.05)
    assert not _template_threads()


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{{ 1/0 }}", "ZeroDivisionError"),
        ("{% for x in %}", "syntax error on line 1"),
        ("{{ messages.__class__.__mro__[1].__subclasses__() }}", "SecurityError"),
        ("{{ undefined_function() }}", "failed to render"),
    ],
)
def test_template_errors_are_one_line(template, says):
    message = _refusal(template)
    assert says in message and "choose another model" in message


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}",  # output
        "{{ 'x' * 1000000000 }}",  # one operator
        "{{ 9 ** (9 ** 9) }}",  # an int no deadline could interrupt
        "{% set a = 'x' * 3000000 %}{{ a ~ a }}",  # concatenation
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{{ 'x'|center(1000000000) }}",  # a filter
        "{{ 'x'.ljust(1000000000) }}",  # a method
    ],
)
@pytest.mark.timeout(30)
def test_huge_values_are_refused_before_memory_runs_out(template):
    assert "too large" in _refusal(template)


def test_template_may_refuse_a_conversation():
    assert "refused the conversation: no system role" in _refusal("{{ raise_exception('no system role') }}")


@pytest.mark.timeout(60)
def test_engine_names_its_model_when_its_template_fails(tiny_hf_model, monkeypatch):
    engine = load_engine(spec_from_source("tiny-evil", str(tiny_hf_model)), Settings())
    assert engine.render_chat(MESSAGES).endswith("<|im_start|>assistant\n")
    engine.tokenizer.chat_template = "{{ 1/0 }}"
    with pytest.raises(MedtuiError, match=r"chat template of tiny-evil failed to render \(ZeroDivisionError"):
        engine.render_chat(MESSAGES)
    monkeypatch.setattr(ct, "TIME_LIMIT_S", 1.0)
    engine.tokenizer.chat_template = RUNAWAY
    with pytest.raises(MedtuiError, match="chat template of tiny-evil took over 1 s"):
        engine.render_chat(MESSAGES)

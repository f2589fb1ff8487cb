"""Both engines on real weights: the SmolLM2 GGUF via llama.cpp, a tiny Llama via transformers."""

import threading

import pytest

from medtui.core.config import Settings
from medtui.core.engines import GenerationParams, load_engine
from medtui.core.engines.chat_template import render_chat
from medtui.core.errors import MedtuiError
from medtui.core.registry import ModelSpec, Registry, spec_from_source

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is anaemia?"}]


def test_gguf_engine_streams_with_its_own_template():
    engine = load_engine(Registry().get("smollm2"), Settings(n_ctx=1024))
    prompt = engine.render_chat(MESSAGES)
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>") and prompt.endswith("<|im_start|>assistant\n")
    pieces = list(engine.stream(prompt, GenerationParams(max_tokens=16, temperature=0.0), threading.Event()))
    assert len(pieces) > 1 and "".join(pieces).strip()
    # greedy decoding is reproducible
    again = list(engine.stream(prompt, GenerationParams(max_tokens=16, temperature=0.0), threading.Event()))
    assert again == pieces


def test_gguf_engine_stops_when_cancelled():
    engine = load_engine(Registry().get("smollm2"), Settings(n_ctx=1024))
    cancel = threading.Event()
    received = []
    for piece in engine.stream(engine.render_chat(MESSAGES), GenerationParams(max_tokens=200, temperature=0.0), cancel):
        received.append(piece)
        if len(received) == 3:
            cancel.set()
    assert len(received) == 3


def test_transformers_engine_on_tiny_llama(tiny_hf_model):
    engine = load_engine(spec_from_source("tiny", str(tiny_hf_model)), Settings(n_ctx=4096))
    assert engine.n_ctx == 1024  # capped by the model's own max_position_embeddings
    prompt = engine.render_chat(MESSAGES)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert engine.count_tokens(prompt) == len(engine.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    text = "".join(engine.stream(prompt, GenerationParams(max_tokens=8, temperature=0.0), threading.Event()))
    assert isinstance(text, str)


def test_missing_and_corrupt_gguf(tmp_path):
    with pytest.raises(MedtuiError, match="not found"):
        load_engine(ModelSpec("x", "gguf", str(tmp_path / "gone.gguf")), Settings())
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(MedtuiError, match=f"{bad} is not a GGUF file"):
        load_engine(spec_from_source("bad", str(bad)), Settings())
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(MedtuiError, match="could not load"):
        load_engine(spec_from_source("truncated", str(truncated)), Settings())


def test_hub_id_offline_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = spec_from_source("hub", "HuggingFaceTB/SmolLM2-135M-Instruct-not-cached")
    with pytest.raises(MedtuiError, match="cannot load .* from the Hugging Face Hub"):
        load_engine(spec, Settings())


def test_template_is_sandboxed():
    evil = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(MedtuiError, match="failed to render"):
        render_chat(evil, MESSAGES)


def test_lora_adapter_on_hf_model_changes_its_output(tiny_hf_model, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_hf_model)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    torch.manual_seed(1)
    for name, param in peft_model.named_parameters():
        if "lora_" in name:
            param.data.normal_(0, 0.5)
    peft_model.save_pretrained(tmp_path / "adapter")
    base = load_engine(spec_from_source("base", str(tiny_hf_model)), Settings())
    adapted = load_engine(spec_from_source("lora", str(tiny_hf_model), str(tmp_path / "adapter")), Settings())
    assert adapted.spec.describe().endswith(str(tmp_path / "adapter"))
    prompt = base.render_chat(MESSAGES)
    params = GenerationParams(max_tokens=12, temperature=0.0)
    assert "".join(base.stream(prompt, params, threading.Event())) != "".join(
        adapted.stream(prompt, params, threading.Event())
    )


def test_sampling_precedence_neutral_then_builtin_then_model_then_config(smollm2_gguf, tiny_hf_model):
    from medtui.core.engines import sampling
    from medtui.core.engines.sampling import generation_params

    neutral = GenerationParams()
    other = spec_from_source("tiny", str(tiny_hf_model))
    embedded = Registry().get("smollm2")
    as_file = spec_from_source("copy", str(smollm2_gguf))  # the same weights under another name
    assert generation_params(Settings(), embedded, 99) == GenerationParams(99, **sampling.EMBEDDED)
    assert generation_params(Settings(), as_file, 99) == generation_params(Settings(), embedded, 99)
    assert generation_params(Settings(), other, 99) == GenerationParams(99, **sampling.GENERAL)
    for key in ("presence_penalty", "frequency_penalty", "top_p"):  # not in any built-in default: neutral
        if key not in sampling.EMBEDDED:
            assert getattr(generation_params(Settings(), embedded, 99), key) == getattr(neutral, key)

    tuned = ModelSpec("tuned", "gguf", str(smollm2_gguf), sampling={"repeat_penalty": 1.4, "top_k": 20})
    params = generation_params(Settings(temperature=0.7, seed=3), tuned, 50)
    assert (params.max_tokens, params.temperature, params.seed) == (50, 0.7, 3)
    assert (params.repeat_penalty, params.top_k) == (1.4, 20)  # the model's table wins over the built-in
    assert params.min_p == {**sampling.EMBEDDED}.get("min_p", neutral.min_p)  # untouched keys keep the built-in

    config = Settings(repeat_penalty=1.0, top_k_sampling=0, min_p=0.2, presence_penalty=0.5)
    params = generation_params(config, tuned, 50)
    assert (params.repeat_penalty, params.top_k, params.min_p, params.presence_penalty) == (1.0, 0, 0.2, 0.5)

"""Fit before load: the memory estimate against llama.cpp's own buffer sizes and a real peak RSS,
and the refusal, auto context and reports built on it, through the real loading path."""

import json
import re
import subprocess
import sys

import pytest

from medtui.core.config import Settings
from medtui.core.engines import load_engine
from medtui.core.engines.memory_fit import available, estimate, fit_context, model_info, plan_load
from medtui.core.errors import MedtuiError
from medtui.core.registry import ModelSpec, Registry, spec_from_source
from tests.test_cli import one_line_error, run

# One verbose load in a fresh process: llama.cpp logs its buffer sizes on the C stderr, and the
# peak RSS of a process that did nothing else is the model's own.
# The model's share of the peak: the peak resident set after loading and one decode (VmHWM) less
# what was resident before (VmRSS). Not ru_maxrss before and after: an import's own peak can
# exceed the loaded model's, and the difference is then 0.
PROBE = """
import json, re, sys
import llama_cpp
from llama_cpp import Llama
kib = lambda key: int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
before = kib("VmRSS")
llm = Llama(model_path=sys.argv[1], n_ctx=int(sys.argv[2]), n_threads=2, verbose=True)
llm.eval(llm.tokenize(b"Anaemia is a condition in which", add_bos=True))
print(json.dumps({"rss": kib("VmHWM") - before}))
"""


def _mib(log: str, what: str) -> float:
    return float(re.search(rf"{what} buffer size = +([\d.]+) MiB", log).group(1)) * 2**20


def test_estimate_matches_llama_cpp_and_bounds_the_peak_rss(smollm2_gguf):
    spec = ModelSpec("smollm2", "gguf", str(smollm2_gguf))
    est = estimate(model_info(spec), 1024)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(smollm2_gguf), "1024"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    log = done.stderr
    assert est.kv_bytes == _mib(log, "KV")  # the formula is llama.cpp's own
    assert abs(est.weights_bytes - _mib(log, "model")) < 2**20
    assert abs(est.compute_bytes - _mib(log, "compute")) / _mib(log, "compute") < 0.05  # fitted: see docs/design.md
    rss = json.loads(done.stdout.strip().splitlines()[-1])["rss"]
    assert 0 < rss <= est.total_bytes  # an upper bound (how far above: bench/memory_fit.py, docs/results.md)


def test_a_model_over_the_limit_is_refused_before_loading(smollm2_gguf):
    spec = Registry().get("smollm2")
    with pytest.raises(MedtuiError) as refused:
        load_engine(spec, Settings(n_ctx=4096, memory_limit="200MiB"))
    message = str(refused.value)
    assert "\n" not in message and "model smollm2 needs about" in message and "memory_limit" in message
    most = int(re.search(r"set n_ctx = (\d+) \(the most that fits\)", message).group(1))
    assert 256 <= most < 4096
    load_engine(spec, Settings(n_ctx=most, memory_limit="200MiB")).close()  # the suggestion works
    with pytest.raises(MedtuiError, match="use a smaller quant or a smaller model"):
        plan_load(spec, Settings(memory_limit="64MiB"))  # the weights alone are 92 MiB


def test_ask_refuses_in_one_line(monkeypatch):
    monkeypatch.setenv("MEDTUI_MEMORY_LIMIT", "170MiB")
    one_line_error(run("ask", "What causes anaemia?", "--n-ctx", "4096", "--no-rag"), "set n_ctx = ")


def test_auto_context_is_the_trained_one_capped_by_the_limit(smollm2_gguf):
    spec = Registry().get("smollm2")
    assert plan_load(spec, Settings(n_ctx=0)).n_ctx == 8192  # SmolLM2's trained context fits easily
    engine = load_engine(spec, Settings(n_ctx=0, memory_limit="250MiB"))
    try:
        info = model_info(spec)
        assert 256 <= engine.n_ctx < 8192
        assert engine.n_ctx == fit_context(info, available(250 * 2**20))
        assert estimate(info, engine.n_ctx).total_bytes <= 250 * 2**20 < estimate(info, engine.n_ctx + 256).total_bytes
    finally:
        engine.close()


def test_hf_estimate_counts_the_safetensors(tiny_hf_model):
    import torch
    from transformers import AutoModelForCausalLM

    info = model_info(spec_from_source("tiny", str(tiny_hf_model)))
    model = AutoModelForCausalLM.from_pretrained(tiny_hf_model, dtype="auto")
    assert info.parameters == sum(p.numel() for p in model.state_dict().values() if isinstance(p, torch.Tensor))
    assert info.trained_ctx == 1024 and info.layers == 2 and info.heads_kv == 2 and info.chat_template
    assert estimate(info, 4096).n_ctx == 1024  # as TransformersEngine caps it


def test_settings_refuse_bad_sizes():
    with pytest.raises(MedtuiError, match="memory_limit = 'lots' is not a size"):
        Settings(memory_limit="lots")
    with pytest.raises(MedtuiError, match="n_ctx = 100 is too small"):
        Settings(n_ctx=100)
    assert Settings(memory_limit="1.5 GiB").memory_limit_bytes == 3 * 2**29


def test_models_info_and_doctor_report_it():
    result = run("models", "info", "smollm2")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    for line in (
        "architecture   llama",
        "layers         30",
        "context        8192 tokens trained",
        "quant          Q4_1",
    ):
        assert line in out, out
    assert "chat template  yes" in out and "licence        apache-2.0" in out and "at n_ctx 8192" in out
    assert re.search(r"memory +about .* available: fits", out), out
    doctor = run("doctor").stdout.decode()
    assert re.search(r"llama.cpp build  .*AVX", doctor), doctor  # llama_print_system_info, as built
    assert re.search(r"memory   .* RAM available; smollm2, 0 of 31 layers offloaded: needs about", doctor), doctor

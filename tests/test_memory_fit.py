"""Fit before load: the memory estimate against llama.cpp's own buffer sizes and a real peak RSS,
and the refusal, auto context and reports built on it, through the real loading path. GPU
offload is planned from an imposed `Available` (its VRAM, or unified memory), so those decisions
run here without a GPU."""

import json
import re
import subprocess
import sys

import pytest

from medtui.core.config import Settings
from medtui.core.engines import load_engine
from medtui.core.engines.memory_fit import (
    MIN_GPU_CTX,
    Available,
    ModelInfo,
    auto_gpu_layers,
    available,
    check_fit,
    estimate,
    fit_context,
    fits,
    model_info,
    plan,
    plan_load,
)
from medtui.core.errors import MedtuiError
from medtui.core.model_catalog import load_catalog
from medtui.core.model_catalog import model_info as catalogue_info
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
    most = int(re.search(r"set n_ctx = (\d+) \(the most that fits\) or 0 \(auto\)", message).group(1))
    assert 256 <= most < 4096
    load_engine(spec, Settings(n_ctx=most, memory_limit="200MiB")).close()  # the suggestion works
    with pytest.raises(MedtuiError, match="use a smaller quant or a smaller model"):
        plan_load(spec, Settings(memory_limit="64MiB"))  # the weights alone are 92 MiB


def test_a_context_above_the_trained_one_is_refused_as_that_naming_the_option(smollm2_gguf):
    """`--n-ctx 1000000` was told "set n_ctx = 8192 (the most that fits) or use a smaller quant":
    8192 is SmolLM2's trained context, not what fits, and a smaller quant barely moves a KV cache
    of many GB."""
    spec = Registry().get("smollm2")
    with pytest.raises(MedtuiError) as refused:
        plan_load(spec, Settings(n_ctx=1_000_000))
    message = str(refused.value)
    assert "above the 8192 tokens it was trained on: set n_ctx to 8192 or less, or 0 (auto)" in message, message
    assert "smaller quant" not in message and "--n-ctx" in message and "\n" not in message
    with pytest.raises(MedtuiError) as refused:  # above the trained context and not fitting even at it
        plan_load(spec, Settings(n_ctx=1_000_000, memory_limit="250MiB"))
    most = int(re.search(r"set n_ctx to (\d+) or less \(the most that fits\)", str(refused.value)).group(1))
    assert 256 <= most < 8192


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


GiB = 2**30


def _smollm2(path) -> ModelInfo:
    return model_info(ModelSpec("smollm2", "gguf", str(path)))


def test_auto_gpu_layers_offloads_the_most_that_fit_in_vram(smollm2_gguf):
    info = _smollm2(smollm2_gguf)
    units = info.layers + 1  # the output layer counts as one, as llama.cpp counts it
    twelve = estimate(info, 4096, 12).vram_bytes
    assert twelve < estimate(info, 4096, 13).vram_bytes  # each layer adds to the VRAM it needs
    for vram in (twelve, estimate(info, 4096, 13).vram_bytes - 1):  # 12 fit, 13 do not
        assert auto_gpu_layers(info, 4096, Available(64 * GiB, vram, None)) == 12
    assert auto_gpu_layers(info, 4096, Available(64 * GiB, 100 * GiB, None)) == units
    assert auto_gpu_layers(info, 4096, Available(64 * GiB, 2**20, None)) == 0  # not even one layer
    assert auto_gpu_layers(info, 4096, Available(64 * GiB, None, None)) == 0  # no GPU offload here
    assert auto_gpu_layers(info, 4096, Available(64 * GiB, None, None, unified=True)) == units  # Apple silicon


def test_fit_context_with_layers_offloaded_is_capped_by_the_vram(smollm2_gguf):
    info = _smollm2(smollm2_gguf)
    avail = Available(64 * GiB, estimate(info, 2048, 31).vram_bytes, None)
    assert fit_context(info, avail, 31) == 2048  # every layer on the GPU: the VRAM caps the context
    assert not fits(estimate(info, 2048 + 256, 31), avail)
    assert fit_context(info, avail, 0) == fit_context(info, avail) == info.trained_ctx  # on the CPU, or auto
    unified = Available(estimate(info, 2048, 31).total_bytes, None, None, unified=True)
    assert fit_context(info, unified, 31) == 2048  # unified memory: the offloaded layers count as RAM


def test_a_fixed_n_gpu_layers_over_the_vram_is_refused_with_what_fits(smollm2_gguf):
    info = _smollm2(smollm2_gguf)
    avail = Available(64 * GiB, estimate(info, 4096, 12).vram_bytes, None)
    planned = plan(info, Settings(n_ctx=4096, n_gpu_layers=31), avail)
    assert planned.n_gpu_layers == 31  # a fixed count is used as set, then checked
    with pytest.raises(MedtuiError) as refused:
        check_fit(info, planned.estimate, avail, 31)
    message = str(refused.value)
    assert "\n" not in message and "VRAM" in message, message
    assert message.endswith("set n_gpu_layers = 12 (what fits) or -1 (auto)"), message
    check_fit(info, plan(info, Settings(n_ctx=4096, n_gpu_layers=12), avail).estimate, avail, 12)  # it works
    auto = plan(info, Settings(n_ctx=4096), avail)
    assert auto.n_gpu_layers == 12
    check_fit(info, auto.estimate, avail)
    cpu = Available(64 * GiB, None, None)  # a CPU build: a fixed count offloads nothing
    assert plan(info, Settings(n_ctx=4096, n_gpu_layers=31), cpu).n_gpu_layers == 0


def test_auto_context_and_layers_keep_the_model_on_the_gpu():
    """A 3B model with a 128k trained context on a GPU box: the context shrinks to keep every layer
    in VRAM, down to MIN_GPU_CTX; only then are layers left on the CPU (as llama.cpp's --fit)."""
    entry = next(e for e in load_catalog() if e.name == "llama-3.2-3b-instruct")
    info = catalogue_info(entry, "Q4_K_M")
    units, ram = info.layers + 1, 64 * GiB

    roomy = plan(info, Settings(), Available(ram, 32 * GiB, None))
    assert (roomy.n_ctx, roomy.n_gpu_layers) == (info.trained_ctx, units)

    avail = Available(ram, 6 * GiB, None)
    laptop = plan(info, Settings(), avail)
    assert laptop.n_gpu_layers == units and MIN_GPU_CTX < laptop.n_ctx < info.trained_ctx
    assert estimate(info, laptop.n_ctx + 256, units).vram_bytes > avail.vram_bytes  # the most that stays on the GPU
    assert fit_context(info, avail) == info.trained_ctx  # RAM alone would take 128k, with most layers on the CPU
    check_fit(info, laptop.estimate, avail)

    small = Available(ram, 2 * GiB, None)
    squeezed = plan(info, Settings(), small)
    assert squeezed.n_ctx == MIN_GPU_CTX and 0 < squeezed.n_gpu_layers < units
    assert squeezed.n_gpu_layers == auto_gpu_layers(info, MIN_GPU_CTX, small)
    check_fit(info, squeezed.estimate, small)

    mac = plan(info, Settings(), Available(ram, None, None, unified=True))
    assert (mac.n_ctx, mac.n_gpu_layers) == (info.trained_ctx, units)  # one memory: all layers, all the context
    tight_mac = plan(info, Settings(), Available(8 * GiB, None, None, unified=True))
    assert tight_mac.n_gpu_layers == units and tight_mac.n_ctx == fit_context(info, tight_mac.available)

"""Before a run: its first examples exactly as the model will see them, and an estimate of its
tokens, steps, time and memory that says how it was derived.

Everything here is cheap except `estimate` on a big dataset (it tokenizes every row) and the
first preview of a GGUF model (it reads the tokenizer from the file).
"""

import math
import time
from dataclasses import dataclass
from itertools import islice

from medtui.core import hub
from medtui.core.datasource import DataReport
from trainers.config import TrainConfig
from trainers.model import BaseModel, materialized, resolve_model
from trainers.prepare import prepare_cpt, sft_examples


@dataclass(frozen=True)
class Example:
    prompt: str  # no loss on these tokens
    completion: str  # the learned tokens (empty for CPT, where every token is learned)
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Estimate:
    rows: int  # kept after filtering
    report: DataReport
    tokens: int  # train tokens, one epoch
    steps: int  # optimizer steps
    params: int  # parameters of the base
    seconds: float  # the whole run: the phases before training, the training, saving
    memory_bytes: int
    how: str  # how the numbers were derived, to show next to them
    compute_s: float = 0.0  # the training steps alone
    phases: tuple[tuple[str, float], ...] = ()  # (phase, seconds): the work around the steps


# What a run costs besides its steps, measured by `bench/train.py --phases` (a one-step SFT of
# the 134M default, seq len 256, on 2 CPU cores shared with other work): the mean of two runs,
# docs/results.md, "Training phases". Per-parameter costs scale with the base's size; the rest
# are fixed (they are imports, file reading and Python, not matmuls: scaling them by the measured
# matmul speed made the estimate worse). Tokenizing is timed by `estimate` itself, which
# tokenizes every row as the worker does.
STARTING_S = 32.0  # the worker imports torch, transformers, peft and TRL
DEQUANTIZING_S_PER_PARAM = 6.0e-7  # reading a GGUF into float32 and saving it (once per GGUF)
LOADING_S_PER_PARAM = 1.0e-8  # the HF folder into memory, LoRA attached
FIRST_STEP_SETUP_S = 110.0  # the first step beyond its share of the compute: TRL packing, warm-up
SAVING_S = 21.5  # after the last step: the final eval, saving the adapter, registering it


def estimate_phases(took: dict[str, float], est: Estimate) -> dict[str, float]:
    """The constants above from one measured run (`bench/train.py --phases`) and its estimate."""
    params, first_step_compute = est.params, est.compute_s / max(1, est.steps)
    return {
        "STARTING_S": took.get("starting", 0.0),
        "DEQUANTIZING_S_PER_PARAM": took.get("dequantizing", 0.0) / params,
        "LOADING_S_PER_PARAM": took.get("loading the base", 0.0) / params,
        "FIRST_STEP_SETUP_S": max(0.0, took.get("first step", 0.0) - first_step_compute),
        "SAVING_S": took.get("saving", 0.0),
    }


def tokenizer_for(base: BaseModel):
    from transformers import AutoTokenizer

    if base.gguf is not None:
        return AutoTokenizer.from_pretrained(str(base.gguf.parent), gguf_file=base.gguf.name, trust_remote_code=False)
    from trainers.model import load_tokenizer

    return load_tokenizer(base.source)


def preview(config: TrainConfig, n: int = 3) -> list[Example]:
    """The first `n` usable rows exactly as the model will see them."""
    tokenizer = tokenizer_for(resolve_model(config.model))
    if config.method == "cpt":
        data = prepare_cpt(config.replace(limit=n, eval_fraction=0.0), tokenizer)
        return [Example(tokenizer.decode(r["input_ids"]), "", len(r["input_ids"]), 0) for r in data.train[:n]]
    out = []
    for _, formatted, tokens in islice(sft_examples(config, tokenizer, DataReport()), n):
        learned = sum(tokens["completion_mask"])
        out.append(Example(formatted.prompt, formatted.completion, len(tokens["input_ids"]) - learned, learned))
    return out


def _param_count(base: BaseModel) -> tuple[int, int, int, int]:
    """(parameters, hidden size, layers, vocab) from the model config alone."""
    from transformers import AutoConfig

    if base.gguf is not None:
        cfg = AutoConfig.from_pretrained(str(base.gguf.parent), gguf_file=base.gguf.name, trust_remote_code=False)
    else:
        hub.check_source(base.source)  # offline first when the Hub cannot be reached: no minute of retries
        cfg = AutoConfig.from_pretrained(base.source, trust_remote_code=False)
    h, layers, vocab = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size
    heads = cfg.num_attention_heads
    kv = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or h // heads
    per_layer = 2 * h * heads * head_dim + 2 * h * kv * head_dim + 3 * h * cfg.intermediate_size
    embeddings = vocab * h * (1 if getattr(cfg, "tie_word_embeddings", False) else 2)
    return per_layer * layers + embeddings, h, layers, vocab


def measured_flops() -> tuple[float, str]:
    """Achieved matmul FLOP/s of this machine (a short timed matmul), and the device name."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    size = 4096 if device == "cuda" else 1024
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    start_time, reps = time.perf_counter(), 5
    for _ in range(reps):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * reps / (time.perf_counter() - start_time), device


def estimate(config: TrainConfig) -> Estimate:
    """Tokens after filtering, steps, and rough time and memory, saying how they were derived."""
    from trainers.backends import resolve_quant

    base = resolve_model(config.model)
    tokenizer = tokenizer_for(base)
    clock = time.perf_counter()
    if config.method == "cpt":
        data = prepare_cpt(config, tokenizer)
        rows, report, tokens = len(data.train), data.report, data.train_tokens
    else:
        report = DataReport()
        lengths = [len(t["input_ids"]) for _, _, t in sft_examples(config, tokenizer, report)]
        kept = int(len(lengths) * (1 - config.eval_fraction)) if len(lengths) >= 10 else len(lengths)
        rows, tokens = len(lengths), int(sum(lengths) * kept / max(1, len(lengths)))
    tokenizing = time.perf_counter() - clock
    packed = config.packing or config.method == "cpt"
    sequences = math.ceil(tokens / config.max_seq_len) if packed else rows
    steps = (
        config.max_steps
        if config.max_steps > 0
        else math.ceil(sequences * config.epochs / (config.batch_size * config.grad_accum))
    )
    params, hidden, layers, vocab = _param_count(base)
    flops, device = measured_flops()
    mfu = 0.35 if device == "cuda" else 0.5
    trained_tokens = min(tokens * config.epochs, steps * config.batch_size * config.grad_accum * config.max_seq_len)
    passes = 8 if config.gradient_checkpointing else 6  # checkpointing runs each forward twice
    compute = passes * params * trained_tokens / (flops * mfu)
    target = materialized(base)
    dequantize = target is not None and not (target / "config.json").exists()
    phases = (
        ("starting", STARTING_S),
        ("dequantizing", DEQUANTIZING_S_PER_PARAM * params if dequantize else 0.0),
        ("tokenizing", tokenizing),
        ("loading the base", LOADING_S_PER_PARAM * params),
        ("first step", FIRST_STEP_SETUP_S),
        ("saving", SAVING_S),
    )
    bytes_per_weight = 0.56 if resolve_quant(config) == "4bit" else (2 if device == "cuda" else 4)
    act_bytes = 2 if device == "cuda" else 4
    per_layer = hidden * 18 * act_bytes  # per token; checkpointing keeps each layer's input and recomputes one layer
    kept = layers * hidden * act_bytes + per_layer if config.gradient_checkpointing else layers * per_layer
    activations = config.batch_size * config.max_seq_len * (kept + vocab * 4 * 2)
    memory = int(params * bytes_per_weight + activations)
    how = (
        f"time = {' + '.join(f'{name} {seconds:.0f}s' for name, seconds in phases[:-1])} + training {compute:.0f}s + "
        f"saving {SAVING_S:.0f}s (tokenizing timed here; the rest measured by bench/train.py --phases on a 134M "
        "model on 2 busy CPU cores, scaled by parameters); "
        f"training = {passes} x {params / 1e6:.0f}M params x {trained_tokens / 1e6:.2f}M tokens / "
        f"({flops / 1e12:.2f} TFLOP/s measured matmul on {device} x {mfu:.0%} assumed utilisation); "
        f"memory = weights at {bytes_per_weight} B/param + "
        f"activations of one micro-batch ({config.batch_size} x {config.max_seq_len} tokens) incl. fp32 logits"
        + (", with activation checkpointing" if config.gradient_checkpointing else "")
    )
    seconds = compute + sum(seconds for _, seconds in phases)
    return Estimate(rows, report, int(tokens), steps, params, seconds, memory, how, compute, phases)

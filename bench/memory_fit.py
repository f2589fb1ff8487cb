"""The memory estimate (medtui/core/engines/memory_fit.py) against the peak RSS of a real load.

Each case loads a GGUF in a fresh process, as the chat does (`load_engine`, the fit check
included), then evaluates a prompt: a short one (a chat's start) and one that fills the context
(a long chat's end: the last batch's attention spans every cached token, so more of the compute
buffer is written). Measured = the process's peak
RSS (`ru_maxrss`) less its RSS before the load; the estimate leaves the interpreter out too,
since `available()` is read in a process that already holds it.

    .venv/bin/python -m bench.memory_fit [--big /tmp/medtui-big/big-f16.gguf]
    .venv/bin/python -m bench.memory_fit --make-big /tmp/medtui-big   # a ~1 GB random f16 Llama

(run as a module from the checkout: as a script, bench/export.py would hide the export package)

`--make-big` builds a random-weight Llama (hidden 2048, 12 layers, SmolLM2's tokenizer and
template) as an HF folder and converts it with llama.cpp's own converter to an f16 GGUF: the
weights are noise, which changes nothing about memory.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, resource, sys
from medtui.core.config import Settings
from medtui.core.engines import load_engine
from medtui.core.engines.memory_fit import model_info, estimate
from medtui.core.registry import ModelSpec

path, n_ctx, n_prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = ModelSpec("bench", "gguf", path)
info = model_info(spec)
est = estimate(info, n_ctx)
import llama_cpp  # imported before the baseline: the library is not the model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
engine = load_engine(spec, Settings(n_ctx=n_ctx, n_threads=2))
tokens = engine.tokenize("The kidney filters the blood. " * (n_prompt // 6 + 1))[:n_prompt]
engine.llm.eval(tokens)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"weights": est.weights_bytes, "kv": est.kv_bytes, "compute": est.compute_bytes + est.overhead_bytes,
                  "estimate": est.total_bytes, "measured": (peak - before) * 1024}))
"""


def measure(path: Path, n_ctx: int, n_prompt: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), str(n_ctx), str(n_prompt)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_big(folder: Path) -> Path:
    """A random f16 Llama of about 0.5B parameters (~1 GB), converted by llama.cpp's converter."""
    from export.converter import run_converter
    from tests.random_llama import random_llama

    shape = {
        "hidden_size": 2048,
        "intermediate_size": 4096,
        "num_hidden_layers": 12,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": True,
    }
    hf = random_llama(folder / "hf", shape, float16=True)
    out = folder / "big-f16.gguf"
    run_converter("convert_hf_to_gguf.py", [str(hf.resolve()), "--outtype", "f16", "--outfile", str(out.resolve())])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=Path, help="a bigger GGUF to measure as well")
    parser.add_argument("--make-big", type=Path, metavar="FOLDER", help="make the random f16 GGUF in FOLDER and stop")
    args = parser.parse_args()
    if args.make_big:
        print(make_big(args.make_big))
        return
    from medtui.core.assets import asset_path

    cases = [("smollm2 Q4_1", asset_path("smollm2_gguf"), n) for n in (1024, 4096)]
    if args.big:
        cases += [(f"{args.big.name}", args.big, n) for n in (1024, 4096)]
    print("| model | n_ctx | prompt | weights | KV | compute + other | estimate | measured | measured / estimate |")
    print("|---|---|---|---|---|---|---|---|---|")
    mib = 2**20
    for name, path, n_ctx in cases:
        for n_prompt in (8, n_ctx - 16):
            r = measure(path, n_ctx, n_prompt)
            print(
                f"| {name} | {n_ctx} | {n_prompt} | {r['weights'] / mib:.0f} | {r['kv'] / mib:.0f} | "
                f"{r['compute'] / mib:.0f} | {r['estimate'] / mib:.0f} MiB | {r['measured'] / mib:.0f} MiB | "
                f"{r['measured'] / r['estimate']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

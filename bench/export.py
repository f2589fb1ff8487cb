"""Export cost and quality per GGUF type: SmolLM2-135M-Instruct dequantized from the packaged GGUF
to a Hugging Face folder, then exported (merge → convert → quantize → verify) as f16, q8_0 and
q4_k_m in this one process. For each: export time, file size, decode tokens/s through
llama-cpp-python and perplexity on OpenStax Pharmacology for Nurses (../shared/data), with
ratios against f16, plus the export's own verification numbers.

    .venv/bin/python bench/export.py [--windows 8] [--tokens 64] [--rounds 3]
"""

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from llama_cpp import Llama

BENCH = str(Path(__file__).resolve().parent)
sys.path[:] = [
    p for p in sys.path if str(Path(p or ".").resolve()) != BENCH
]  # this file is `export` too: find the package

from export.merge import load_base  # noqa: E402
from export.pipeline import ExportRequest, export_model  # noqa: E402
from export.sources import ExportSource  # noqa: E402
from medtui.core.assets import asset_path  # noqa: E402
from medtui.core.engines.llamacpp import default_threads  # noqa: E402

sys.path.append(BENCH)
from shared_data import SHARED, jsonl_gz  # noqa: E402

QUANTS = ("f16", "q8_0", "q4_k_m")
WINDOW = 512
PROMPT = "<|im_start|>user\nExplain how beta blockers lower blood pressure.<|im_end|>\n<|im_start|>assistant\n"


def medical_text(min_chars: int) -> str:
    """Body sections (not prefaces or introductions) of the pharmacology book, in book order."""
    parts, size = [], 0
    for row in jsonl_gz(SHARED / "openstax_medical_textbooks" / "pharmacology_for_nurses.jsonl.gz"):
        if row["title"] in ("Preface", "Introduction") or len(row["text"]) < 2000:
            continue
        parts.append(row["text"])
        size += len(row["text"])
        if size >= min_chars:
            break
    return "\n\n".join(parts)


def perplexity(llm: Llama, ids: list[int], windows: int) -> float:
    """Non-overlapping 512-token windows, each from a fresh context."""
    nll, n = 0.0, 0
    for w in range(windows):
        chunk = ids[w * WINDOW : (w + 1) * WINDOW]
        llm.reset()
        llm.eval(chunk)
        logits = np.asarray(llm.scores[: len(chunk)], dtype=np.float64)
        top = logits.max(axis=-1, keepdims=True)
        logprobs = logits - (np.log(np.exp(logits - top).sum(axis=-1, keepdims=True)) + top)
        nll -= sum(logprobs[i - 1, chunk[i]] for i in range(1, len(chunk)))
        n += len(chunk) - 1
    return math.exp(nll / n)


def decode_speed(llm: Llama, tokens: int) -> float:
    llm.reset()
    prompt = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
    n, start = 0, None
    for _ in llm.generate(prompt, temp=0.0, top_k=1):
        if start is None:
            start = time.perf_counter()  # after the prompt is evaluated: decode only
        n += 1
        if n == tokens:
            break
    return (n - 1) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=8, help="512-token windows of text for perplexity")
    parser.add_argument("--tokens", type=int, default=64, help="tokens to decode for the speed")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved decode rounds (best kept)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["MEDTUI_CONFIG_DIR"] = str(tmp / "config")  # the bench's exports stay out of your registry
        model, tokenizer = load_base(ExportSource("smollm2", str(asset_path("smollm2_gguf")), None))
        hf = tmp / "smollm2-hf"
        model.save_pretrained(hf, safe_serialization=True)
        tokenizer.save_pretrained(hf)
        ids = tokenizer(medical_text(args.windows * WINDOW * 6))["input_ids"]
        assert len(ids) >= args.windows * WINDOW, "not enough text for the windows asked"

        exports = {}
        for quant in QUANTS:
            start = time.perf_counter()
            result = export_model(ExportRequest(str(hf), quant, name=f"bench-{quant}", out_dir=tmp / "exports"))
            exports[quant] = (result, time.perf_counter() - start)
        llms = {
            q: Llama(
                model_path=str(r.gguf),
                n_ctx=WINDOW,
                n_batch=WINDOW,
                n_threads=default_threads(),
                logits_all=True,
                verbose=False,
            )
            for q, (r, _) in exports.items()
        }
        # Decode speed: best of interleaved rounds, so a busy moment does not land on one type only.
        speeds = {q: 0.0 for q in QUANTS}
        for _ in range(args.rounds):
            speeds = {q: max(speeds[q], decode_speed(llms[q], args.tokens)) for q in QUANTS}
        rows = [
            (
                q,
                exports[q][1],
                exports[q][0].gguf.stat().st_size / 1e6,
                speeds[q],
                perplexity(llms[q], ids, args.windows),
                exports[q][0].verification,
            )
            for q in QUANTS
        ]
        for llm in llms.values():
            llm.close()

    f16 = rows[0]
    print(
        f"SmolLM2-135M-Instruct (dequantized Q4_1), {default_threads()} threads, "
        f"perplexity over {args.windows}×{WINDOW} tokens of OpenStax Pharmacology for Nurses"
    )
    print(
        f"{'type':<8}{'export s':>10}{'×f16':>7}{'size MB':>10}{'×f16':>7}{'decode tok/s':>14}{'×f16':>7}"
        f"{'ppl':>9}{'×f16':>8}{'verify top-1':>14}{'verify Δppl':>13}"
    )
    for quant, seconds, size, speed, ppl, v in rows:
        print(
            f"{quant:<8}{seconds:>10.1f}{seconds / f16[1]:>7.2f}{size:>10.1f}{size / f16[2]:>7.2f}{speed:>14.1f}"
            f"{speed / f16[3]:>7.2f}{ppl:>9.3f}{ppl / f16[4]:>8.4f}{v.top1:>14.1%}{v.ppl_rel:>13.2%}"
        )


if __name__ == "__main__":
    main()

"""Time to first token and decode speed of the embedded default: medtui's engine vs llama-cpp-python.

Both sides run the same GGUF, prompt tokens, thread count and greedy settings in this one
process; the ratio is medtui's overhead (target: within 5%).

    .venv/bin/python bench/chat.py [--runs 5] [--tokens 128]
"""

import argparse
import statistics
import threading
import time

from llama_cpp import Llama

from medtui.core.config import Settings
from medtui.core.engines import GenerationParams, load_engine
from medtui.core.engines.llamacpp import default_threads
from medtui.core.registry import Registry

MESSAGES = [
    {"role": "system", "content": "You are a careful medical assistant."},
    {"role": "user", "content": "Explain the difference between type 1 and type 2 diabetes, and how each is treated."},
]


def timed(stream) -> tuple[float, float, int]:
    """(seconds to first piece, decode pieces per second after it, pieces)."""
    start = time.perf_counter()
    first = None
    n = 0
    for _ in stream:
        n += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return first - start, (n - 1) / (end - first) if n > 1 else 0.0, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    settings = Settings(n_ctx=2048)
    engine = load_engine(Registry().get("smollm2"), settings)
    prompt = engine.render_chat(MESSAGES)
    tokens = engine._tokens(prompt)
    direct = Llama(model_path=engine.spec.source, n_ctx=2048, n_threads=default_threads(), verbose=False)
    params = GenerationParams(max_tokens=args.tokens, temperature=0.0)

    def via_medtui():
        return engine.stream(prompt, params, threading.Event())

    def via_llama():
        for chunk in direct.create_completion(tokens, max_tokens=args.tokens, temperature=0.0, stream=True):
            if chunk["choices"][0]["text"]:
                yield chunk["choices"][0]["text"]

    results: dict[str, list[tuple[float, float, int]]] = {"medtui": [], "llama-cpp-python": []}
    timed(via_medtui())  # warm-up both
    timed(via_llama())
    for _ in range(args.runs):  # interleaved so drift hits both sides alike
        results["medtui"].append(timed(via_medtui()))
        results["llama-cpp-python"].append(timed(via_llama()))
    print(
        f"SmolLM2-135M Q4_1, {len(tokens)} prompt tokens, {args.tokens} new tokens, {default_threads()} threads, "
        f"median of {args.runs}"
    )
    print(f"{'':18}{'TTFT ms':>10}{'decode tok/s':>14}{'pieces':>8}")
    medians = {}
    for name, rows in results.items():
        ttft = statistics.median(r[0] for r in rows) * 1000
        tps = statistics.median(r[1] for r in rows)
        medians[name] = (ttft, tps)
        print(f"{name:18}{ttft:>10.1f}{tps:>14.1f}{rows[0][2]:>8}")
    (m_ttft, m_tps), (d_ttft, d_tps) = medians["medtui"], medians["llama-cpp-python"]
    print(
        f"ratio medtui/direct: TTFT {m_ttft / d_ttft:.3f}, decode {m_tps / d_tps:.3f} (target: TTFT <= 1.05, "
        "decode >= 0.95)"
    )


if __name__ == "__main__":
    main()

"""Which sampling keeps the embedded default (SmolLM2-135M) from looping: the numbers behind
`medtui/core/engines/sampling.py`.

Each candidate setting answers the same fixed medical questions with RAG off (the chat's
system prompt and the question, nothing else), max_tokens 200, seed 0, at the chat's default
temperature 0.2 and at 0 (greedy: evals), 0.7 and 1.0 (users who raise it); the bench counts
answers that loop (some 4-word n-gram three times or more), answers cut at the token limit,
empty answers (under two words), and the mean length. The winner has the fewest loops and
cuts over all temperatures without any empty answer. Prints a markdown table for
docs/results.md. About 5 minutes on 2 cores (use --threads 1 on a busy machine: llama.cpp's
threads spin-wait on each other and slow down many times when the cores are shared).

    .venv/bin/python bench/sampling.py [--temperatures 0 0.2 0.7 1.0] [--max-tokens 200] [--model NAME] [--show]
"""

import argparse
import re
import statistics
import threading
import time
from collections import Counter

from medtui.core.config import Settings
from medtui.core.engines.base import Finish, GenerationParams
from medtui.core.wiring import open_engine

QUESTIONS = [
    "What is the first-line treatment for type 2 diabetes?",
    "What is the first-line treatment for community-acquired pneumonia in a healthy adult?",
    "What is the first-line treatment for hypertension?",
    "What are the symptoms of iron deficiency anaemia?",
    "What are the early symptoms of sepsis?",
    "What are the symptoms of hypothyroidism?",
    "What are the warning signs of a stroke?",
    "Can warfarin be taken with ibuprofen?",
    "What happens if an SSRI is combined with tramadol?",
    "Is it safe to drink alcohol while taking metronidazole?",
    "What is the usual adult dose of paracetamol, and the maximum per day?",
    "How is amoxicillin dosed for a child with otitis media?",
]

CANDIDATES: dict[str, dict[str, float]] = {
    # what medtui sent before it passed sampling explicitly: llama-cpp-python's own defaults
    "before: llama-cpp-python defaults (top_k 40, top_p 0.95, min_p 0.05)": {"top_k": 40, "top_p": 0.95, "min_p": 0.05},
    "none (neutral)": {},
    "repeat_penalty 1.1": {"repeat_penalty": 1.1},
    "repeat_penalty 1.1, min_p 0.05": {"repeat_penalty": 1.1, "min_p": 0.05},
    "repeat_penalty 1.15, min_p 0.05": {"repeat_penalty": 1.15, "min_p": 0.05},
    "repeat_penalty 1.3": {"repeat_penalty": 1.3},
}


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def loops(text: str, n: int = 4, times: int = 3) -> bool:
    """Some n-word sequence occurs `times` times or more."""
    w = words(text)
    grams = Counter(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    return bool(grams) and max(grams.values()) >= times


def answer(engine, prompt: str, params: GenerationParams) -> tuple[str, Finish]:
    stream = engine.stream(prompt, params, threading.Event())
    text = ""
    while True:
        try:
            text += next(stream)
        except StopIteration as end:
            return text, end.value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 0.2, 0.7, 1.0])
    parser.add_argument("--model", default=None, help="a registered model (default: the embedded SmolLM2)")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (1 on a busy machine)")
    parser.add_argument("--show", action="store_true", help="print every answer")
    args = parser.parse_args()
    settings = Settings(rag=False, n_threads=args.threads)
    engine = open_engine(settings, args.model)
    prompts = [
        engine.render_chat([{"role": "system", "content": settings.system_prompt}, {"role": "user", "content": q}])
        for q in QUESTIONS
    ]
    # (setting, temperature) -> (loops, cuts, empties, words per answer)
    results: dict[tuple[str, float], tuple[int, int, int, list[int]]] = {}
    for temperature in args.temperatures:
        for name, knobs in CANDIDATES.items():
            params = GenerationParams(max_tokens=args.max_tokens, temperature=temperature, seed=0, **knobs)
            start = time.perf_counter()
            looped = cut = empty = 0
            lengths = []
            for question, prompt in zip(QUESTIONS, prompts):
                text, finish = answer(engine, prompt, params)
                looped += loops(text)
                cut += finish is Finish.LENGTH
                empty += len(words(text)) < 2
                lengths.append(len(words(text)))
                if args.show:
                    print(f"--- [{name}, T {temperature}] {question} ({finish}, {lengths[-1]} words)\n{text.strip()}\n")
            results[name, temperature] = (looped, cut, empty, lengths)
            seconds = time.perf_counter() - start
            print(f"T {temperature} {name}: loops {looped}, cut {cut}, empty {empty} ({seconds:.0f} s)", flush=True)
    engine.close()
    n = len(QUESTIONS)
    print(
        f"\n{engine.spec.name} ({engine.spec.describe()}): {n} questions, RAG off, max_tokens {args.max_tokens}, "
        f"seed 0. Each temperature cell: answers that loop / answers cut at max_tokens, of {n}.\n"
    )
    temps = " | ".join(f"T {t}" for t in args.temperatures)
    print(f"| sampling | {temps} | loops + cuts | empty | mean words |")
    print("|---|" + "---|" * (len(args.temperatures) + 3))
    for name in CANDIDATES:
        cells = [results[name, t] for t in args.temperatures]
        bad = sum(c[0] + c[1] for c in cells)
        empty = sum(c[2] for c in cells)
        mean = statistics.mean(w for c in cells for w in c[3])
        print(f"| {name} | {' | '.join(f'{c[0]} / {c[1]}' for c in cells)} | {bad} | {empty} | {mean:.0f} |")


if __name__ == "__main__":
    main()

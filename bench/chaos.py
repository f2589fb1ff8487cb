"""Kill long work at random points, resume it, and check nothing was lost or doubled.

    .venv/bin/python bench/chaos.py [--kills 30] [--only index|eval|train] [--seed 0]

Each subsystem runs through the installed `medtui` command, as a user would, in a scratch
data folder. A run is killed (SIGKILL or SIGTERM, alternately) after a random delay within the
time an uninterrupted run takes, then the same command is run again, until `--kills` kills have
landed mid-run (a run that finished first is undone and started over); a last run goes to the end.
Invariants checked against an uninterrupted run:

- index: the snippet ids equal a clean build's, each once, and the index opens as complete;
- eval: every question has exactly one prediction, the run is complete, and the accuracy
  equals the uninterrupted run's (loglik scoring is deterministic);
- train: bench/chaos_train.py (same step count, loss within its stated tolerance).

Prints kills survived and anything lost; exits 1 if an invariant broke.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
MEDTUI = str(Path(sys.executable).with_name("medtui"))
sys.path.insert(0, str(BENCH))

from shared_data import SHARED  # noqa: E402


def scratch_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDTUI_")}
    env.update(MEDTUI_CONFIG_DIR=str(root / "config"), MEDTUI_DATA_DIR=str(root / "data"), HF_HUB_OFFLINE="1")
    env["MEDTUI_INDEXES_DIR"] = str(root / "data" / "indexes")
    return env


def run_to_end(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([MEDTUI, *args], env=env, check=True, capture_output=True, timeout=3600)


def kill_after(args: list[str], env: dict[str, str], delay: float, sig: int) -> bool:
    """Start the command and send `sig` after `delay` s; False if it had already finished."""
    process = subprocess.Popen([MEDTUI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(delay)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(sig)
        process.wait(120)
        return True


def chaos(
    args: list[str], env: dict[str, str], kills: int, window: float, rng: random.Random, reset: Callable[[], None]
) -> int:
    """Kill the command at random points within `window` s until `kills` kills have landed, then
    run it to the end. A run that finished before its kill is undone with `reset`, so the next
    kill lands in a run that is resuming from kills before it, never in a finished one."""
    survived = attempts = 0
    while survived < kills and attempts < 3 * kills:
        attempts += 1
        sig = signal.SIGKILL if survived % 2 == 0 else signal.SIGTERM
        if kill_after(args, env, rng.uniform(0.5, window), sig):
            survived += 1
        else:
            reset()
    run_to_end(args, env)
    return survived


def index_ids(env: dict[str, str], name: str) -> list[str]:
    probe = (
        "import sys; from medtui.core.rag.index import SnippetIndex; "
        "print('\\n'.join(s.id for s in SnippetIndex(sys.argv[1]).open().iter_snippets()))"
    )
    out = subprocess.run([sys.executable, "-c", probe, name], env=env, check=True, capture_output=True, text=True)
    return out.stdout.split()


def check_index(kills: int, rng: random.Random, source: Path) -> dict:
    add = ["index", "add", "chaos", str(source), "--limit", "60"]
    with tempfile.TemporaryDirectory() as clean_dir, tempfile.TemporaryDirectory() as chaos_dir:
        clean_env, chaos_env = scratch_env(Path(clean_dir)), scratch_env(Path(chaos_dir))
        start = time.perf_counter()
        run_to_end(add, clean_env)
        clean_seconds = time.perf_counter() - start
        expected = index_ids(clean_env, "chaos")
        reset = lambda: run_to_end(["index", "remove", "chaos"], chaos_env)
        survived = chaos(add, chaos_env, kills, clean_seconds, rng, reset)
        got = index_ids(chaos_env, "chaos")
    lost = sorted(set(expected) - set(got))
    doubled = len(got) - len(set(got))
    return {"kills": survived, "snippets": len(expected), "lost": len(lost), "extra": len(set(got) - set(expected)),
            "doubled": doubled, "ok": not lost and not doubled and set(got) == set(expected)}  # fmt: skip


def eval_predictions(root: Path) -> tuple[list[dict], dict]:
    import sqlite3

    db = sqlite3.connect(root / "data" / "evals" / "runs.sqlite3")
    (run_id, state, done, size, correct) = db.execute("SELECT id, state, done, size, correct FROM runs").fetchone()
    lines = (root / "data" / "evals" / f"{run_id}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines], {"state": state, "done": done, "size": size, "correct": correct}


def check_eval(kills: int, rng: random.Random, model: str) -> dict:
    args = ["eval", "run", "-m", "chaos-model", "-t", "mmlu_anatomy", "--limit", "96", "--offline"]
    with tempfile.TemporaryDirectory() as clean_dir, tempfile.TemporaryDirectory() as chaos_dir:
        clean_env, chaos_env = scratch_env(Path(clean_dir)), scratch_env(Path(chaos_dir))
        for env in (clean_env, chaos_env):
            run_to_end(["models", "add", "chaos-model", model], env)
        start = time.perf_counter()
        run_to_end(args, clean_env)
        clean_seconds = time.perf_counter() - start
        store = Path(chaos_dir) / "data" / "evals"
        survived = chaos(args, chaos_env, kills, clean_seconds, rng, lambda: shutil.rmtree(store, ignore_errors=True))
        _, clean_run = eval_predictions(Path(clean_dir))
        preds, run = eval_predictions(Path(chaos_dir))
    ids = [p["item_id"] for p in preds]
    return {"kills": survived, "questions": clean_run["size"], "predictions": len(ids), "unique": len(set(ids)),
            "state": run["state"], "same_accuracy": run["correct"] == clean_run["correct"],
            "ok": len(ids) == len(set(ids)) == run["size"] and run["state"] == "complete"
            and run["correct"] == clean_run["correct"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--only", choices=["index", "eval", "train"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="smollm2", help="model path or registered name for the eval part")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.model == "smollm2":
        from medtui.core.assets import asset_path

        args.model = str(asset_path("smollm2_gguf"))
    report = {}
    if args.only in (None, "index"):
        source = SHARED / "medquad" / "medquad_answered.jsonl.gz"
        report["index"] = check_index(args.kills, rng, source)
        print("index", report["index"], flush=True)
    if args.only in (None, "eval"):
        report["eval"] = check_eval(args.kills, rng, args.model)
        print("eval ", report["eval"], flush=True)
    if args.only in (None, "train"):
        train = subprocess.run([sys.executable, str(BENCH / "chaos_train.py"), "--kills", str(args.kills)])
        report["train"] = {"ok": train.returncode == 0}
    broken = [name for name, r in report.items() if not r["ok"]]
    print(f"kills survived: {sum(r.get('kills', 0) for r in report.values())}; broken: {', '.join(broken) or 'none'}")
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()

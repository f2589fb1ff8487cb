"""Kill a tiny training run at random points, resume it each time, and check nothing was lost or doubled.

    .venv/bin/python bench/chaos_train.py [--kills 30] [--steps N] [--seed 0]

A tiny random Llama (SmolLM2's tokenizer and chat template, two layers of width 32) is trained
with LoRA on 12 short SFT rows, a checkpoint every step and an eval loss every 4, in a scratch
data folder, through `trainers.api` as `medtui train` does (a worker process per attempt, the
run's lock handed to it). First one uninterrupted run, the reference; then the same run under
chaos: each attempt is killed, SIGKILL or SIGTERM to its process group (a SIGTERM followed by a
second one half the time: "stop now"), at a random one of three moments: a random delay after
the start (mostly while it loads), as soon as it records a new step (so mostly while it saves
that step's checkpoint), or as soon as a new checkpoint folder appears (while it is written);
then `resume`. After `--kills` kills a last attempt runs to the end. Invariants:

- the run completes, registered, with the reference's step count;
- progress.jsonl records every step once and an eval loss exactly at the reference's steps,
  once each (records of an attempt that restarted from the beginning, because it was killed
  before its first checkpoint was complete, are kept by design and reported, not counted);
- the final train loss and eval loss equal the reference's within LOSS_TOLERANCE.

Prints the kills survived and anything lost; exits 1 if an invariant broke.
"""

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.random_llama import random_llama  # noqa: E402  (after the checkout is on the path)

# Resuming restores the adapter, the optimizer, the schedule and every RNG state bit for bit from
# the checkpoint, and the data order comes from the seed, so a resumed run repeats the reference's
# arithmetic exactly: on this CPU the losses match to the last bit (0.0 difference measured). The
# tolerance only leaves room for float32 kernels that reassociate sums differently between two
# processes (another thread count, another BLAS path): 1e-4 on a loss near 10.8 is 1e-5 relative,
# far below what one step moves it (about 1e-3), so a lost or repeated step still breaks it.
LOSS_TOLERANCE = 1e-4
EVAL_STEPS = 4
ROWS = [
    ("C", "collagen synthesis", "scurvy"),
    ("D", "bone mineralisation", "rickets"),
    ("B1", "glucose metabolism", "beriberi"),
    ("B3", "NAD synthesis", "pellagra"),
    ("B12", "myelin and DNA synthesis", "megaloblastic anaemia"),
    ("K", "clotting factor carboxylation", "bleeding"),
]


@dataclass
class Report:
    kills: int = 0
    by_moment: dict[str, int] = field(default_factory=dict)
    by_signal: dict[str, int] = field(default_factory=dict)
    restarts_from_beginning: int = 0  # attempts that found no usable checkpoint after steps were recorded
    fallbacks: int = 0  # unusable checkpoints removed, with a word in train.log
    steps: int = 0
    reference_steps: int = 0
    loss: float | None = None
    reference_loss: float | None = None
    eval_loss: float | None = None
    reference_eval_loss: float | None = None
    problems: list[str] = field(default_factory=list)  # each a broken invariant: anything lost or doubled
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def scratch(root: Path) -> None:
    """Point medtui at a scratch config and data folder (inherited by the workers)."""
    for name in [n for n in os.environ if n.startswith("MEDTUI_")]:
        del os.environ[name]
    os.environ.update(MEDTUI_CONFIG_DIR=str(root / "config"), MEDTUI_DATA_DIR=str(root / "data"))
    os.environ.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")


def rows(path: Path) -> Path:
    lines = [
        {
            "Question": f"What does vitamin {v} deficiency cause?",
            "Complex_CoT": f"Vitamin {v} is needed for {use}.",
            "Response": f"Deficiency of vitamin {v} causes {disease}.",
        }
        for v, use, disease in ROWS * 2
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return path


def config(name: str, model: Path, data: Path, steps: int):
    from trainers.config import TrainConfig

    return TrainConfig(
        method="sft",
        model=str(model),
        data=str(data),
        name=name,
        max_seq_len=128,
        max_steps=steps,
        batch_size=1,
        grad_accum=1,
        lr=2e-3,
        lora_r=4,
        lora_alpha=8,
        eval_fraction=0.17,
        save_steps=1,
        eval_steps=EVAL_STEPS,
        decontaminate=False,
    )


def records(run_dir: Path) -> list:
    from trainers.runs import PROGRESS_FILE, parse_progress

    path = run_dir / PROGRESS_FILE
    if not path.exists():
        return []
    found = (parse_progress(line, str(path)) for line in path.read_text(encoding="utf-8").splitlines())
    return [r for r in found if r is not None]


def checkpoints(run_dir: Path) -> set[str]:
    folder = run_dir / "checkpoints"
    return {p.name for p in folder.glob("checkpoint-*")} if folder.is_dir() else set()


def has_complete_checkpoint(run_dir: Path) -> bool:
    return any((run_dir / "checkpoints" / name / "trainer_state.json").exists() for name in checkpoints(run_dir))


def wait_exit(pid: int, timeout: float) -> int | None:
    """Reap our worker child; its wait status, or None if it is still running after `timeout`
    (0: just look)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped already
            return 0
        if done:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def start_attempt(first: bool, cfg) -> int:
    """One worker through the API, detached, as `medtui train ... --detach` starts it; its pid."""
    from trainers import api

    [started] = api.start(cfg, detach=True) if first else api.resume(cfg.name, detach=True)
    return started.pid


def kill_moment(pid: int, run_dir: Path, moment: str, rng: random.Random, startup_s: float, step_s: float) -> bool:
    """Wait for `moment`; False if the worker exited first (the run is over)."""
    seen_steps = max((r.step for r in records(run_dir)), default=0)
    seen_checkpoints = checkpoints(run_dir)
    target_step = seen_steps + rng.choice((1, 2))
    deadline = time.monotonic() + (rng.uniform(0, startup_s + 3 * step_s) if moment == "delay" else 600)
    while time.monotonic() < deadline:
        if wait_exit(pid, 0) is not None:
            return False
        if moment == "step" and max((r.step for r in records(run_dir)), default=0) >= target_step:
            return True
        if moment == "checkpoint" and checkpoints(run_dir) - seen_checkpoints:
            return True
        time.sleep(0.01)
    return True


def kill(pid: int, rng: random.Random, report: Report) -> None:
    """SIGKILL, or SIGTERM (a clean stop with a checkpoint), then half the time a second SIGTERM
    (stop now); wait until the worker is gone."""
    how = rng.choice(("SIGKILL", "SIGTERM", "SIGTERM x2"))
    try:
        if how == "SIGKILL":
            os.killpg(pid, signal.SIGKILL)
        else:
            os.killpg(pid, signal.SIGTERM)
            if how == "SIGTERM x2":
                time.sleep(rng.uniform(0, 0.5))
                os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if wait_exit(pid, 300) is None:  # a clean stop that hangs is a failure too
        report.problems.append(f"worker {pid} did not exit within 300 s of {how}")
        os.killpg(pid, signal.SIGKILL)
        wait_exit(pid, 60)
    report.by_signal[how] = report.by_signal.get(how, 0) + 1


def last_losses(run_dir: Path) -> tuple[float | None, float | None]:
    found = records(run_dir)
    train = [r.loss for r in found if r.loss is not None]
    evals = [r.eval_loss for r in found if r.eval_loss is not None]
    return (train[-1] if train else None), (evals[-1] if evals else None)


def check(report: Report, run_dir: Path, reference_dir: Path, ignored_prefix: int) -> None:
    """The invariants, each broken one a line in `report.problems`."""
    from medtui.core.records import RunStatus
    from medtui.core.registry import Registry
    from trainers.runs import load_run

    run, reference = load_run(run_dir), load_run(reference_dir)
    report.steps, report.reference_steps = run.info.global_step or 0, reference.info.global_step or 0
    if run.status is not RunStatus.COMPLETE:
        report.problems.append(f"run ended {run.status}: {run.info.error or 'see train.log'}")
    if report.steps != report.reference_steps:
        report.problems.append(f"{report.steps} steps, the reference {report.reference_steps}")
    if not any(s.name == run.name and s.adapter == str(run.adapter) for s in Registry().all()):
        report.problems.append("not registered")
    if not (run.adapter / "adapter_model.safetensors").exists():
        report.problems.append("no adapter")
    kept = records(run_dir)[ignored_prefix:]
    expected = [(r.step, r.eval_loss is not None) for r in records(reference_dir)]
    got = [(r.step, r.eval_loss is not None) for r in kept]
    doubled = sorted({key for key in got if got.count(key) > 1})
    missing = sorted(set(expected) - set(got))
    if doubled:
        report.problems.append(f"recorded twice (step, eval): {doubled}")
    if missing:
        report.problems.append(f"never recorded (step, eval): {missing}")
    report.loss, report.eval_loss = last_losses(run_dir)
    report.reference_loss, report.reference_eval_loss = last_losses(reference_dir)
    for what, got_loss, want in (
        ("loss", report.loss, report.reference_loss),
        ("eval loss", report.eval_loss, report.reference_eval_loss),
    ):
        if got_loss is None or want is None or abs(got_loss - want) > LOSS_TOLERANCE:
            report.problems.append(f"final {what} {got_loss}, the reference {want} (tolerance {LOSS_TOLERANCE})")


def chaos(kills: int, steps: int | None, seed: int, root: Path, model: Path | None = None, log=print) -> Report:
    """The whole bench in `root` (a scratch folder; the tiny model is made there unless given)."""
    started = time.monotonic()
    scratch(root)
    from trainers import api
    from trainers.runs import LOG_FILE, run_dir

    rng = random.Random(seed)
    steps = steps or 2 * kills + 6  # an attempt trains about one step before its kill: room for every kill
    model, data = model or random_llama(root / "tiny-llama"), rows(root / "rows.jsonl")
    report = Report()

    t0 = time.monotonic()
    events = list(api.start(config("reference", model, data, steps), detach=False))
    reference_s = time.monotonic() - t0
    finished = events[-1]
    if not isinstance(finished, api.Finished) or finished.exit_code != 0:
        report.problems.append(f"the reference run failed: see {run_dir('reference') / LOG_FILE}")
        return report
    first_record = next((e for e in events if isinstance(e, api.Stepped)), None)
    startup_s = reference_s / 2 if first_record is None else first_record.record.time - events[0].run.info.created
    step_s = max(0.05, (reference_s - startup_s) / steps)
    log(f"reference: {steps} steps in {reference_s:.0f} s (start-up {startup_s:.0f} s, {step_s:.2f} s a step)")

    cfg = config("chaos", model, data, steps)
    folder = run_dir("chaos")
    ignored_prefix = 0  # progress records of attempts that restarted from the beginning
    first = True
    while report.kills < kills:
        if not first and api.status("chaos").run.status is api.RunStatus.COMPLETE:
            break  # the last kill came after it completed
        if not first and not has_complete_checkpoint(folder) and records(folder):
            report.restarts_from_beginning += 1
            ignored_prefix = len(records(folder))
        pid = start_attempt(first, cfg)
        first = False
        moment = rng.choice(("delay", "step", "checkpoint"))
        if not kill_moment(pid, folder, moment, rng, startup_s, step_s):
            break  # it finished before this kill landed
        kill(pid, rng, report)
        report.kills += 1
        report.by_moment[moment] = report.by_moment.get(moment, 0) + 1
        done = max((r.step for r in records(folder)), default=0)
        log(f"kill {report.kills}/{kills}: {moment}, step {done}/{steps}")
    if api.status("chaos").run.status is not api.RunStatus.COMPLETE:
        if not has_complete_checkpoint(folder) and records(folder):
            report.restarts_from_beginning += 1
            ignored_prefix = len(records(folder))
        pid = start_attempt(first, cfg)
        if wait_exit(pid, 3600) is None:
            report.problems.append("the last attempt did not finish within an hour")
    report.fallbacks = (folder / LOG_FILE).read_text(encoding="utf-8").count(" is unusable (")
    check(report, folder, run_dir("reference"), ignored_prefix)
    report.seconds = time.monotonic() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps of the run (default 2 x kills + 6)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chaos-train-") as root:
        report = chaos(args.kills, args.steps, args.seed, Path(root))
    print(
        f"kills survived: {report.kills} ({', '.join(f'{k} {v}' for k, v in sorted(report.by_moment.items()))}; "
        f"{', '.join(f'{k} {v}' for k, v in sorted(report.by_signal.items()))}) in {report.seconds:.0f} s"
    )
    print(
        f"steps {report.steps} (reference {report.reference_steps}); final loss {report.loss} "
        f"(reference {report.reference_loss}); final eval loss {report.eval_loss} "
        f"(reference {report.reference_eval_loss}); tolerance {LOSS_TOLERANCE}"
    )
    print(
        f"unusable checkpoints removed: {report.fallbacks}; restarts from the beginning: "
        f"{report.restarts_from_beginning}"
    )
    print("lost or doubled: " + ("; ".join(report.problems) or "nothing"))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()

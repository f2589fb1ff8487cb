"""What a hostile or unlucky user does to a training run: a second trainer on the same run, a run
name that leaves the runs folder, a damaged or crafted checkpoint, --max-steps 0, and kills at
random points (a short version of bench/chaos_train.py). Each test failed before its fix."""

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from medtui.core.errors import MedtuiError
from tests.test_trainers import _threads  # noqa: F401  (autouse fixture)
from trainers import api
from trainers.config import TrainConfig
from trainers.pipeline import execute
from trainers.runs import LOCK_FILE, create_run, load_run, lock_run, read_progress, run_dir, runs_dir

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}  # this test's data folder, set by the medtui_home fixture


def _rows(folder: Path) -> Path:
    path = folder / "sft.jsonl"
    facts = [("C", "collagen", "scurvy"), ("D", "bone mineralisation", "rickets"), ("B1", "glucose use", "beriberi")]
    rows = [
        {"Question": f"What does vitamin {v} deficiency cause?", "Complex_CoT": f"It is needed for {use}.",
         "Response": f"Deficiency of vitamin {v} causes {disease}."}
        for v, use, disease in facts * 4
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(model: Path, data: Path, name: str, **changes) -> TrainConfig:
    settings = dict(max_steps=4, batch_size=2, grad_accum=1, lr=2e-3, lora_r=4, max_seq_len=256, decontaminate=False)
    return TrainConfig(method="sft", model=str(model), data=str(data), name=name, **{**settings, **changes})


def _medtui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "medtui", "train", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(),
        timeout=300,
    )


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("medtui: error:")]
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def _steps(folder: Path) -> list[tuple[int, bool]]:
    """(step, is an eval) of every record in progress.jsonl, in order."""
    lines = (folder / "progress.jsonl").read_text(encoding="utf-8").splitlines()
    return [(r["step"], "eval_loss" in r) for r in map(json.loads, lines)]


def test_a_second_trainer_on_a_live_run_is_refused_naming_its_pid(tiny_hf_model, tmp_path):
    """Two real processes: the worker `start` launched holds the run's lock (handed to it by the
    launcher); a resume, a start of the same name, a second worker and the CLI are refused with
    its pid and change nothing; once it is SIGKILLed the OS frees the lock."""
    config = _config(tiny_hf_model, _rows(tmp_path), "busy", max_steps=200, save_steps=1000, eval_steps=1000)
    [started] = api.start(config, detach=True)
    pid, folder = started.pid, started.run.dir
    try:
        refusal = f"run busy is being trained by pid {pid}"
        with pytest.raises(MedtuiError, match=refusal):
            api.resume("busy")
        with pytest.raises(MedtuiError, match=refusal):
            api.start(config)
        second = subprocess.run(
            [sys.executable, "-m", "trainers.worker", str(folder)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=_env(),
            timeout=120,  # a second worker that is not refused trains on
        )
        assert refusal in _one_error_line(second)
        assert refusal in _one_error_line(_medtui("resume", "busy"))
        assert load_run(folder).info.pid == pid and api.status("busy").alive  # the refusals wrote nothing
        assert (folder / LOCK_FILE).read_text().strip() == str(pid)
    finally:
        os.killpg(pid, signal.SIGKILL)
        while api.status("busy").alive:  # reaps it
            time.sleep(0.1)
    os.close(lock_run(load_run(folder)))  # freed by the OS: no stale lock after a crash


def test_run_names_that_leave_the_runs_folder_are_refused(tiny_hf_model, tmp_path):
    data = _rows(tmp_path)
    for name in ("..", ".", "...", "a/../..", "../escape"):
        with pytest.raises(MedtuiError, match="run name"):
            _config(tiny_hf_model, data, name)
        with pytest.raises(MedtuiError, match="run name"):
            run_dir(name)
    assert "run name '..'" in _one_error_line(_medtui("sft", "-m", str(tiny_hf_model), "-d", str(data), "--name", ".."))
    home = Path(os.environ["MEDTUI_DATA_DIR"])
    assert not (home / "run.json").exists() and not runs_dir().exists()

    # a run folder reached through `..` is the folder it is; one whose own name is not a model name is not registered
    run = create_run(_config(tiny_hf_model, data, "fine"))
    assert load_run(run.dir / "sub" / "..").dir == run.dir
    from trainers.runs import Run, register

    with pytest.raises(MedtuiError, match="model name '...'"):
        register(Run(tmp_path / "...", run.info))


def test_max_steps_zero_is_refused_before_any_folder(tiny_hf_model, tmp_path):
    data = _rows(tmp_path)
    for steps in (0, -2):
        with pytest.raises(
            MedtuiError, match=f"--max-steps must be at least 1, or -1 to train --epochs \\(got {steps}\\)"
        ):
            _config(tiny_hf_model, data, "zero", max_steps=steps)
    assert _config(tiny_hf_model, data, "epochs", max_steps=-1).max_steps == -1
    line = _one_error_line(_medtui("sft", "-m", str(tiny_hf_model), "-d", str(data), "--max-steps", "0"))
    assert "--max-steps must be at least 1" in line and not runs_dir().exists()


def test_the_final_evaluation_runs_once_also_when_resumed_at_the_end(tiny_hf_model, tmp_path, monkeypatch):
    """The Trainer evaluates at the last step itself; the pipeline evaluated again (and a run
    resumed from its last checkpoint evaluated a third time)."""
    from transformers import Trainer

    calls = []
    evaluate = Trainer.evaluate
    monkeypatch.setattr(Trainer, "evaluate", lambda self, *a, **k: calls.append(1) or evaluate(self, *a, **k))
    config = _config(
        tiny_hf_model, _rows(tmp_path), "evals", max_steps=3, eval_steps=2, save_steps=1, eval_fraction=0.2
    )
    run = execute(create_run(config), threading.Event(), log=lambda m: None)
    assert run.status is api.RunStatus.COMPLETE and run.info.global_step == 3
    assert [s for s, is_eval in _steps(run.dir) if is_eval] == [2, 3] and len(calls) == 2

    # killed after its last checkpoint, before it was marked complete: resume trains and evaluates nothing more
    from safetensors.torch import load_file

    from trainers.runs import update_run

    trained = load_file(run.adapter / "adapter_model.safetensors")
    update_run(run, status=api.RunStatus.RUNNING)
    lines = []
    run = execute(load_run(run.dir), threading.Event(), log=lines.append)
    assert run.status is api.RunStatus.COMPLETE and any("resuming from" in line for line in lines)
    assert run.info.global_step == 3  # the Trainer, resumed at its last step mid-epoch, trained a step 4
    assert [s for s, is_eval in _steps(run.dir) if is_eval] == [2, 3] and len(calls) == 2
    again = load_file(run.adapter / "adapter_model.safetensors")
    assert again.keys() == trained.keys() and all(again[k].equal(trained[k]) for k in trained)


class _Pwn:
    """A pickle that runs a command when loaded without weights_only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_damaged_or_crafted_checkpoints_fall_back_and_never_run_code(tiny_hf_model, tmp_path):
    """Stopped at step 4 with checkpoints 3 and 4: a crafted optimizer.pt in checkpoint-4 (a
    pickle that would run a command) makes the resume fall back to checkpoint-3, saying so in
    train.log and the CLI output, and retrain step 4 without recording it twice; with every
    checkpoint unusable it trains from the beginning, saying so."""
    import torch

    config = _config(tiny_hf_model, _rows(tmp_path), "damaged", max_steps=6, save_steps=1, eval_fraction=0.0)
    stop = threading.Event()  # set at step 3's record: step 4 ends with a checkpoint and the stop
    run = execute(create_run(config), stop, log=lambda m: None, on_record=lambda r: r.step >= 3 and stop.set())
    assert run.status is api.RunStatus.CANCELLED and run.info.global_step == 4
    checkpoints = run.dir / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir() if p.is_dir()) == ["checkpoint-3", "checkpoint-4"]
    spare = tmp_path / "spare-checkpoint-3"
    subprocess.run(["cp", "-r", str(checkpoints / "checkpoint-3"), str(spare)], check=True)
    marker = tmp_path / "pwned"
    (checkpoints / "checkpoint-4" / "optimizer.pt").write_bytes(pickle.dumps(_Pwn(marker)))
    with open(run.dir / "progress.jsonl", "a", encoding="utf-8") as f:
        f.write('{"stage": "sft", "st')  # a record a kill cut short: the next one must not be glued to it

    resumed = _medtui("resume", "damaged")
    assert resumed.returncode == 0 and "damaged\tcomplete" in resumed.stdout, resumed.stderr
    said = "checkpoint-4 is unusable (optimizer.pt: UnpicklingError: Weights only load failed): removed; trying the one"
    assert said in resumed.stderr and said in (run.dir / "train.log").read_text()
    assert f"resuming from {checkpoints / 'checkpoint-3'}" in resumed.stderr and "Traceback" not in resumed.stderr
    assert not marker.exists()
    assert load_run(run.dir).info.global_step == 6
    assert [s for s, _ in _steps(run.dir)] == [1, 2, 3, 4, 5, 6]  # step 4 retrained, recorded once

    # every checkpoint unusable (cut short, or crafted into one that loads but does not fit): from the beginning
    from trainers.backends import load_model
    from trainers.checkpoints import resume_point
    from trainers.model import load_tokenizer
    from trainers.prepare import prepare_sft
    from trainers.stage import _trainer

    folder = tmp_path / "fresh"
    (folder / "checkpoints").mkdir(parents=True)
    subprocess.run(["cp", "-r", str(spare), str(folder / "checkpoints" / "checkpoint-3")], check=True)
    subprocess.run(["cp", "-r", str(spare), str(folder / "checkpoints" / "checkpoint-2")], check=True)
    state = json.loads((spare / "trainer_state.json").read_text())
    (folder / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text(json.dumps({**state, "global_step": 2}))
    cut = (spare / "optimizer.pt").read_bytes()
    (folder / "checkpoints" / "checkpoint-3" / "optimizer.pt").write_bytes(cut[: len(cut) // 2])
    saved = torch.load(spare / "optimizer.pt", weights_only=True)
    first = next(iter(saved["state"]))
    saved["state"][first]["exp_avg"] = torch.zeros(3, 3)
    torch.save(saved, folder / "checkpoints" / "checkpoint-2" / "optimizer.pt")
    tokenizer = load_tokenizer(str(tiny_hf_model))
    model, _, _ = load_model(config, str(tiny_hf_model))
    trainer = _trainer(config, "sft", model, tokenizer, prepare_sft(config, tokenizer), folder, [])
    lines = []
    assert resume_point(folder, trainer, lines.append) is None
    assert lines[0].startswith("checkpoint-3 is unusable (optimizer.pt: ") and "trying the one" in lines[0]
    assert lines[1].startswith("checkpoint-2 is unusable (optimizer.pt: exp_avg is (3, 3)")
    assert lines[1].endswith("training from the beginning") and not list((folder / "checkpoints").iterdir())


def test_kills_at_random_points_lose_and_double_nothing(tiny_hf_model, tmp_path, monkeypatch):
    """bench/chaos_train.py, short: 3 kills (SIGKILL or SIGTERM) at random moments, each resumed."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import chaos_train
    finally:
        sys.path.remove(str(REPO / "bench"))
    for name in ("OMP_NUM_THREADS", "HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # the bench sets them: put them back afterwards
    started = time.monotonic()
    report = chaos_train.chaos(kills=3, steps=6, seed=3, root=tmp_path, model=tiny_hf_model, log=lambda m: None)
    assert report.ok, report.problems
    assert report.kills == 3 and report.steps == report.reference_steps == 6, report
    assert read_progress(run_dir("chaos")).step == 6 and time.monotonic() - started < 600

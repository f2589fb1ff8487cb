"""Start a run as a detached process, so it outlives the TUI or shell that started it."""

import os
import subprocess
import sys
from pathlib import Path

from medtui.core.errors import MedtuiError
from trainers.config import TrainConfig
from trainers.runs import LOG_FILE, Run, create_run, load_run, update_run

LAUNCHERS = ("python", "accelerate")


def check_launcher(config: TrainConfig, launcher: str) -> None:
    """Refused before a run folder is made."""
    if launcher not in LAUNCHERS:
        raise MedtuiError(f"--launcher {launcher!r}: use one of {', '.join(LAUNCHERS)}")
    if launcher == "accelerate" and config.method == "msft":
        raise MedtuiError(
            "msft under accelerate launch is not supported (its merge step runs on one process): "
            "run `medtui train cpt` and then `medtui train sft` on the merged model"
        )


def worker_command(run: Run, launcher: str) -> list[str]:
    """One worker process, or one per GPU through `accelerate launch` (its config from
    `accelerate config`; rank 0 writes the run's files, every rank trains)."""
    check_launcher(run.config, launcher)
    if launcher == "python":
        return [sys.executable, "-m", "trainers.worker", str(run.dir)]
    from trainers.model import materialize, resolve_model

    materialize(resolve_model(run.config.model))  # once, here: ranks would race to dequantize a GGUF
    return [sys.executable, "-m", "accelerate.commands.launch", "--module", "trainers.worker", str(run.dir)]


def spawn(run: Run, launcher: str = "python") -> int:
    """The worker in its own session (no signal from the terminal or the TUI reaches it);
    its stdout and stderr go to train.log."""
    command = worker_command(run, launcher)
    with open(run.dir / LOG_FILE, "a", encoding="utf-8") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parents[1]),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    update_run(run, pid=process.pid)
    return process.pid


def start(config: TrainConfig) -> Path:
    """Check the model and data, create (or reuse, to resume) the run folder and start its
    worker; returns the folder."""
    from trainers.model import resolve_model
    from trainers.prepare import check_sources

    resolve_model(config.model)
    check_sources(config)
    run = create_run(config)
    spawn(run)
    return run.dir


def resume(name_or_dir: str) -> Path:
    run = load_run(name_or_dir)
    spawn(run)
    return run.dir


def is_alive(run: Run) -> bool:
    """Whether the run's worker process still exists (a crashed one leaves status `running`)."""
    pid = run.info.get("pid")
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a worker this process started stays a zombie until reaped: reap it, it is gone
        return os.waitpid(int(pid), os.WNOHANG)[0] == 0
    except ChildProcessError:  # started elsewhere (the CLI, another TUI): kill(0) answered
        return True

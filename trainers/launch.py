"""A run's worker process: started in its own session, so it outlives the TUI or shell that
started it; handed the run's lock; found alive through the pid in run.json; stopped through its
process group."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from medtui.core.errors import MedtuiError
from trainers.config import TrainConfig
from trainers.runs import LOCK_FD_ENV, LOG_FILE, Run, set_lock_pid, update_run

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


def spawn(run: Run, lock: int, launcher: str = "python") -> subprocess.Popen:
    """The worker in its own session (no signal from the terminal or the TUI reaches it);
    its stdout and stderr go to train.log. It inherits `lock`, the run's locked descriptor
    (`trainers.runs.lock_run`), and holds the lock from then on, named as its holder."""
    command = worker_command(run, launcher)
    with open(run.dir / LOG_FILE, "a", encoding="utf-8") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parents[1]),
            env={**os.environ, "PYTHONUNBUFFERED": "1", LOCK_FD_ENV: str(lock)},
            pass_fds=(lock,),
        )
    set_lock_pid(lock, process.pid)
    update_run(run, pid=process.pid)
    return process


def is_alive(run: Run) -> bool:
    """Whether the run's worker process still exists (a crashed one leaves status `running`)."""
    pid = run.info.pid
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a worker this process started stays a zombie until reaped: reap it, it is gone
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:  # started elsewhere (the CLI, another TUI): kill(0) answered
        return True


def interrupt(pid: int) -> None:
    """SIGINT to the worker's process group (every rank under accelerate): each one saves a
    checkpoint and stops after this step; a second one stops them at once."""
    try:
        os.killpg(pid, signal.SIGINT)
    except ProcessLookupError:
        pass  # already gone

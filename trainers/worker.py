"""`python -m trainers.worker RUN_DIR`: run (or resume) one training run in this process.

Every run trains in one (`trainers.api.start`), in its own session, so closing the TUI or the
shell does not end it; a foreground `medtui train` follows its files and passes Ctrl-C on.
SIGINT or SIGTERM asks for a clean stop: a checkpoint is saved, the run is marked cancelled,
exit 130. A second signal stops at once (the last periodic checkpoint still resumes it).
The worker holds the run's lock (`trainers.runs.hold_lock`) for its whole life: a second worker
on the same run is refused (exit 1) before it touches anything.
"""

import signal
import sys
import threading
import time
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.records import RunStatus
from trainers.backends import resolve_backend
from trainers.runs import LOG_FILE, PHASES_FILE, PhaseLog, PhaseName, Run, hold_lock, is_main_process, load_run


def file_log(run: Run):
    """A logger that appends timestamped lines to train.log (which a foreground CLI echoes)."""
    path = run.dir / LOG_FILE

    def log(message: str) -> None:
        if not is_main_process():
            return
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    return log


def stop_on_signals(stop: threading.Event) -> None:
    """First SIGINT/SIGTERM: stop after this step with a checkpoint; second: stop now."""

    def handle(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def uses_unsloth(run: Run) -> bool:
    """False too when the config cannot run here: the pipeline then reports why and marks the run failed."""
    try:
        return resolve_backend(run.config) == "unsloth"
    except MedtuiError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m trainers.worker RUN_DIR", file=sys.stderr)
        return 2
    try:
        run = load_run(Path(argv[0]))
        hold_lock(run)  # its descriptor stays open, the lock held, until this process exits
    except MedtuiError as e:
        print(f"medtui: error: {e}", file=sys.stderr)
        return 1
    log = file_log(run)
    phase = PhaseLog(run.dir / PHASES_FILE)
    phase(PhaseName.STARTING, 0)  # importing the training libraries takes seconds to tens of seconds
    if uses_unsloth(run):
        import unsloth  # noqa: F401  (it patches transformers, peft and trl, so it must come before them)
    from trainers.pipeline import execute

    stop = threading.Event()
    stop_on_signals(stop)
    try:
        done = execute(run, stop, log, on_phase=phase)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except MedtuiError as e:
        log(f"error: {e}")
        return 1
    return 0 if done.status is RunStatus.COMPLETE else 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The one entry point of training for the front ends (`medtui train`, the TUI's wizard and
monitor): preview, estimate, start, resume, stop, list and status.

Every run trains in a worker process of its own session (`trainers.worker`), which writes the
run folder, so a run started in the foreground and one started detached are the same run.
`start(..., detach=False)` follows that folder and yields what happens as typed events until the
worker exits; a Ctrl-C (or SIGTERM) meanwhile is passed on to the worker, which saves a
checkpoint and stops (a second one stops it at once). Refusals (unknown model, missing field, a
bad launcher) are one-line `MedtuiError`s raised by the call itself, before a run folder exists;
so is a run another process is training: the run's lock is taken here and handed to the worker.
"""

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.records import RunStatus
from medtui.core.text import check_name
from trainers.config import BACKENDS, METHODS, QUANTS, TrainConfig
from trainers.estimate import Estimate, Example, estimate, measured_flops, preview
from trainers.launch import check_launcher, interrupt, is_alive, spawn
from trainers.model import resolve_model
from trainers.prepare import check_sources
from trainers.runs import (
    LOG_FILE,
    PHASES_FILE,
    PROGRESS_FILE,
    Phase,
    PhaseName,
    Progress,
    ProgressRecord,
    Run,
    RunBusy,
    create_run,
    load_run,
    lock_run,
    parse_phase,
    parse_progress,
    read_phase,
    read_progress,
    run_folders,
)

__all__ = [
    "BACKENDS",
    "METHODS",
    "QUANTS",
    "Estimate",
    "Example",
    "Finished",
    "Logged",
    "Phase",
    "PhaseName",
    "Progress",
    "ProgressRecord",
    "Run",
    "RunListing",
    "RunStatus",
    "RunView",
    "Started",
    "Stepped",
    "TrainConfig",
    "TrainEvent",
    "estimate",
    "list_runs",
    "measured_flops",
    "preview",
    "resume",
    "start",
    "status",
    "stop",
]

POLL_S = 0.25  # how often a foreground start looks at the run folder
EXIT_WAIT_S = 60.0  # how long a worker that marked its run stopped may take to exit before a resume


@dataclass(frozen=True)
class Started:
    """The worker is running; when `detached`, no further event follows."""

    run: Run
    pid: int
    detached: bool


@dataclass(frozen=True)
class Logged:
    """A line the worker wrote to train.log."""

    line: str


@dataclass(frozen=True)
class Stepped:
    """A progress record (train or eval loss) the worker wrote to progress.jsonl."""

    record: ProgressRecord


@dataclass(frozen=True)
class Finished:
    """The worker exited; `run` is as it left it: complete, cancelled or failed, or still
    `running` when it died without a word (killed, out of memory): resume continues it."""

    run: Run
    exit_code: int


TrainEvent = Started | Logged | Phase | Stepped | Finished  # a `Phase` line: the work before the first step


@dataclass(frozen=True)
class RunView:
    """One run as a monitor shows it."""

    run: Run
    progress: Progress
    alive: bool  # its worker process exists
    phase: Phase | None = None  # the latest work before a first step (dequantizing, tokenizing…)

    @property
    def preparing(self) -> Phase | None:
        """The phase to show: a live run's latest one, until a progress record follows it."""
        last = self.progress.last
        if self.phase is None or not self.alive or (last is not None and last.time >= self.phase.time):
            return None
        return self.phase

    @property
    def orphaned(self) -> bool:
        """Marked running, but its worker is gone (a crash or a reboot): resume continues it."""
        return self.run.status is RunStatus.RUNNING and not self.alive


@dataclass(frozen=True)
class RunListing:
    runs: list[RunView]  # oldest first
    unreadable: list[str]  # one line per run folder that could not be read, saying why


def start(config: TrainConfig, *, detach: bool = False, launcher: str = "python") -> Iterator[TrainEvent]:
    """Check the model, data and launcher, create the run folder (or reuse the one of the same
    name and settings, to resume) and start its worker. The events: `Started`, then, unless
    detached, `Logged` and `Stepped` as they come and `Finished`. `accelerate` always detaches."""
    check_launcher(config, launcher)
    resolve_model(config.model)
    check_sources(config)
    return _launch(create_run(config), detach or launcher != "python", launcher)


def resume(target: str | Path, *, detach: bool = False, launcher: str = "python") -> Iterator[TrainEvent]:
    """Continue a stopped or crashed run (by name or folder) from its last checkpoint; the
    events are `start`'s."""
    run = load_run(target)
    check_name("run", run.name)  # the folder's name becomes a model's: `x/..` is refused
    check_launcher(run.config, launcher)
    return _launch(run, detach or launcher != "python", launcher)


def stop(target: str | Path) -> Run:
    """Ask a run's worker to save a checkpoint and stop after this step (`resume` continues it)."""
    run = load_run(target)
    pid = run.info.pid
    if pid is None or not is_alive(run):
        raise MedtuiError(f"{run.name} is not running")
    interrupt(pid)
    return run


def status(target: str | Path) -> RunView:
    """One run (by name or folder) with its progress and whether its worker is alive."""
    return _view(load_run(target))


def list_runs() -> RunListing:
    """Every run, oldest first, and a line for each folder whose files could not be read."""
    views, unreadable = [], []
    for folder in run_folders():
        try:
            views.append(_view(load_run(folder)))
        except MedtuiError as e:
            unreadable.append(str(e))
    return RunListing(sorted(views, key=lambda v: v.run.info.created), unreadable)


def _view(run: Run) -> RunView:
    return RunView(run, read_progress(run.dir), is_alive(run), read_phase(run.dir))


def _lock(run: Run) -> int:
    """The run's lock, for its worker: a second worker on one folder would corrupt it, and a
    complete run has nothing left to train. A worker that holds it but has marked its run
    cancelled or failed is exiting: it is waited for."""
    deadline = time.monotonic() + EXIT_WAIT_S
    while True:
        if run.status is RunStatus.COMPLETE:
            raise MedtuiError(f"{run.name} is complete: its adapter is {run.adapter}")
        try:
            lock = lock_run(run)
        except RunBusy:
            if run.status is RunStatus.RUNNING:
                raise
            if time.monotonic() > deadline:
                raise MedtuiError(f"{run.name} is still saving its checkpoint: try again in a moment") from None
            time.sleep(POLL_S)
        else:
            run = load_run(run.dir)  # as the last holder left it: complete, perhaps, while we waited
            if run.status is not RunStatus.COMPLETE:
                return lock
            os.close(lock)
        run = load_run(run.dir)


def _launch(run: Run, detached: bool, launcher: str) -> Iterator[TrainEvent]:
    """Start the worker now, with the run's lock; the events come from the returned iterator."""
    lock = _lock(run)
    try:
        since = time.time()
        log, progress = _Tail(run.dir / LOG_FILE), _Tail(run.dir / PROGRESS_FILE)  # from here on: a resume appends
        phases = _Tail(run.dir / PHASES_FILE)
        process = spawn(run, lock, launcher)
    finally:
        os.close(lock)  # the worker holds it now (or, if it did not start, nobody)
    return _follow(load_run(run.dir), process, detached, log, progress, phases, since)


def _follow(
    run: Run, process: subprocess.Popen, detached: bool, log: "_Tail", progress: "_Tail", phases: "_Tail", since: float
) -> Iterator[TrainEvent]:
    """`since`: records written before the worker started are not its own (a file the worker
    trimmed is read again from its start)."""
    yield Started(run, process.pid, detached)
    if detached:
        return
    with _signals_passed_to(process.pid):
        while True:
            exited = process.poll() is not None
            for line in log.lines(final=exited):
                yield Logged(line)
            for line in phases.lines(final=exited):
                if (phase := parse_phase(line, str(phases.path))) is not None:
                    yield phase
            for line in progress.lines(final=exited):
                record = parse_progress(line, str(progress.path))
                if record is not None and record.time > since:
                    since = record.time
                    yield Stepped(record)
            if exited:
                break
            time.sleep(POLL_S)
    yield Finished(load_run(run.dir), process.returncode)


@contextmanager
def _signals_passed_to(pid: int) -> Iterator[None]:
    """While following a worker from the main thread, Ctrl-C and SIGTERM go to the worker."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda signum, frame: interrupt(pid)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Tail:
    """The whole lines a file gains from now on (a worker appends to it); all of a new file
    that replaces it (a resume trims progress.jsonl)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        stat = path.stat() if path.exists() else None
        self.offset = stat.st_size if stat else 0
        self.inode = stat.st_ino if stat else None
        self.rest = b""

    def lines(self, final: bool = False) -> list[str]:
        """New whole lines; `final`: the writer is gone, so a last unterminated line counts too."""
        try:
            with open(self.path, "rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                if inode != self.inode:
                    self.inode, self.offset, self.rest = inode, 0, b""
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *whole, self.rest = (self.rest + data).split(b"\n")
        if final and self.rest:
            whole, self.rest = [*whole, self.rest], b""
        return [line.decode("utf-8", errors="replace") for line in whole]

"""Training runs are folders: everything needed to watch, resume, use or export one.

`<data dir>/runs/<name>/` holds `run.json` (one `RunInfo`: the TrainConfig plus status, base,
timestamps and the data report), `train.log`, `progress.jsonl` (one `ProgressRecord` per logging
step), `phases.jsonl` (one `Phase` per report of the work before the first step),
`checkpoints/` (HF Trainer checkpoints; a rerun resumes from the last), `tensorboard/`, and
`adapter/`, the final PEFT adapter, which appears only once the run is complete (it is written
to a temporary folder and renamed), and `run.lock`, which the process training the run holds
locked (`lock_run`; never removed). The export feature reads the same layout through this
module: run.json, progress.jsonl and phases.jsonl are read and written here only, checked
against their types.
"""

import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

from medtui.core import paths
from medtui.core.datasource import DataReport
from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_file
from medtui.core.formatting import format_duration
from medtui.core.records import RunStatus, Word, from_json, to_json
from medtui.core.registry import ModelSpec, Registry
from medtui.core.text import check_name
from trainers.config import TrainConfig

RUN_FILE, PROGRESS_FILE, LOG_FILE, LOCK_FILE = "run.json", "progress.jsonl", "train.log", "run.lock"
PHASES_FILE = "phases.jsonl"  # one `Phase` per line: what the worker does before training, and how far
LOCK_FD_ENV = "MEDTUI_RUN_LOCK_FD"  # the launcher's locked descriptor, passed on to the worker it starts


class Stage(str, Enum):
    """What a run's worker is doing; a progress record names the training stage (cpt, sft) it is from."""

    CPT = "cpt"
    MERGE = "merge"
    SFT = "sft"
    DONE = "done"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class DataCounts:
    """A stage's DataReport as run.json keeps it."""

    read: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    first_dropped: dict[str, str] = field(default_factory=dict)  # reason -> where the first such row was

    @classmethod
    def of(cls, report: DataReport) -> "DataCounts":
        return cls(report.read, report.kept, dict(report.dropped), dict(report.examples))


@dataclass(frozen=True)
class RunInfo:
    """Everything in run.json. On disk it is one flat object, the config's fields beside these,
    as every version has written it: runs made before these types open unchanged."""

    config: TrainConfig
    status: RunStatus
    created: float
    updated: float
    stage: Stage | None = None  # None until the worker starts
    base: str | None = None  # the HF folder or Hub id the adapter applies to, once known
    pid: int | None = None  # the worker, leader of its own process group
    error: str | None = None  # why it failed
    started: float | None = None
    finished: float | None = None
    global_step: int | None = None
    used_backend: str | None = None
    used_quant: str | None = None
    data_report: DataCounts = field(default_factory=DataCounts)
    cpt_data_report: DataCounts | None = None  # msft: the pretraining stage's

    def to_json(self) -> dict[str, Any]:
        data = to_json(self)
        return {**data.pop("config"), **data}

    @classmethod
    def from_json(cls, data: Any, where: Path) -> "RunInfo":
        if not isinstance(data, dict):
            raise MedtuiError(f"{where}: not a run file (a JSON object)")
        config_keys = {f.name for f in fields(TrainConfig)}
        config = from_json(TrainConfig, {k: v for k, v in data.items() if k in config_keys}, where)
        return from_json(cls, {k: v for k, v in data.items() if k not in config_keys}, where, config=config)


@dataclass(frozen=True)
class Run:
    dir: Path
    info: RunInfo

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def config(self) -> TrainConfig:
        return self.info.config

    @property
    def status(self) -> RunStatus:
        return self.info.status

    @property
    def base(self) -> str | None:
        return self.info.base

    @property
    def adapter(self) -> Path:
        return self.dir / "adapter"


def runs_dir() -> Path:
    return paths.data_dir() / "runs"


def run_dir(name: str) -> Path:
    """Refuses a name that would leave the runs folder ('..', a path)."""
    return runs_dir() / check_name("run", name)


def default_name(config: TrainConfig) -> str:
    model = Path(config.model).stem if config.model.endswith(".gguf") else config.model.rstrip("/").rsplit("/", 1)[-1]
    return f"{model}-{config.method}-{time.strftime('%Y%m%d-%H%M%S')}"


def _write(run: Run) -> Run:
    """Atomically: a reader sees the old run.json or the new one, never half of one."""
    with atomic_file(run.dir / RUN_FILE) as partial:
        partial.write_text(json.dumps(run.info.to_json(), indent=2), encoding="utf-8")
    return run


def create_run(config: TrainConfig) -> Run:
    """A new run folder, or the existing one of the same name when its config matches (resume)."""
    name = config.name or default_name(config)
    config = config.replace(name=name)
    folder = run_dir(name)
    if (folder / RUN_FILE).exists():
        run = load_run(folder)
        if run.config != config:
            raise MedtuiError(
                f"run {name!r} exists with other settings: "
                f"`medtui train resume {name}` continues it, or pick another --name"
            )
        return run
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    return _write(Run(folder, RunInfo(config, RunStatus.RUNNING, created=now, updated=now)))


def load_run(folder: Path | str) -> Run:
    """A run from its folder (or its name); a missing or unreadable run.json is a one-line error.
    The folder is made absolute and normal, so `.` or `x/..` is named after the folder it is."""
    folder = Path(folder)
    if not folder.is_absolute() and not folder.exists():
        folder = run_dir(str(folder))
    folder = Path(os.path.normpath(folder.absolute()))
    path = folder / RUN_FILE
    if not path.exists():
        raise MedtuiError(f"no training run at {folder}: see `medtui train list`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MedtuiError(f"{path}: corrupt run file ({type(e).__name__}): fix or delete the run folder") from None
    try:
        return Run(folder, RunInfo.from_json(data, path))
    except MedtuiError as e:
        raise MedtuiError(f"{e}: fix or delete the run folder") from None


def is_main_process() -> bool:
    """Under `accelerate launch` every GPU runs a worker; only rank 0 writes the run's files."""
    return int(os.environ.get("RANK", 0)) == 0


def update_run(run: Run, **changes: Any) -> Run:
    """Re-read run.json first: the launcher and the worker both write it."""
    if not is_main_process():
        return run
    return _write(Run(run.dir, replace(load_run(run.dir).info, **changes, updated=time.time())))


class RunBusy(MedtuiError):
    """Another process holds the run's lock: it is training the run."""

    def __init__(self, run: Run, pid: int | None) -> None:
        self.pid = pid
        holder = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"run {run.name} is being trained by {holder}: wait for it, or `medtui train stop {run.name}` first"
        )


def lock_run(run: Run) -> int:
    """Lock the run folder for this process, or raise `RunBusy` naming the holder's pid: one
    writer per run. The lock lives as long as the returned descriptor (or a copy a child
    inherits) is open, and the OS drops it when its holder dies, SIGKILL included, so a crash
    never leaves a run locked. The holder's pid is written in the file for the refusal."""
    try:
        fd = os.open(run.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise MedtuiError(f"{run.dir / LOCK_FILE}: cannot open it ({e.strerror}): check the folder's owner") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid = int(os.pread(fd, 32, 0).decode("ascii", errors="replace").strip())
        except ValueError:  # the holder is writing its pid this very moment
            pid = None
        os.close(fd)
        raise RunBusy(run, pid) from None
    set_lock_pid(fd, os.getpid())
    return fd


def set_lock_pid(fd: int, pid: int) -> None:
    """Name `pid` as the lock's holder (a launcher names the worker it handed the lock to). Fixed
    width, in one write over the old name: a refused process reading it never finds it empty, as
    it could between a truncate and a write (the worker renames itself while others may look)."""
    os.pwrite(fd, f"{pid:>10}\n".encode("ascii"), 0)
    os.ftruncate(fd, 11)


def hold_lock(run: Run) -> int | None:
    """The worker's lock on its run, held until it exits: the descriptor its launcher locked and
    passed on (no moment unlocked between them), else a lock of its own. None when the holder is
    an ancestor: under `accelerate launch` the launcher holds it for every rank."""
    passed = os.environ.pop(LOCK_FD_ENV, "")
    if passed.isdigit() and _is_lock_of(int(passed), run):
        fd = int(passed)
        os.set_inheritable(fd, False)
        set_lock_pid(fd, os.getpid())
        return fd
    try:
        return lock_run(run)
    except RunBusy as busy:
        if busy.pid is not None and busy.pid in _ancestors():
            return None
        raise


def _is_lock_of(fd: int, run: Run) -> bool:
    """Whether `fd` is open on this run's lock file (a rank of `accelerate launch` inherits the
    variable, not the descriptor, and its number may be another file's)."""
    try:
        held, there = os.fstat(fd), os.stat(run.dir / LOCK_FILE)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def _ancestors() -> set[int]:
    """This process's parent, its parent's parent, ... (from /proc; the parent alone elsewhere)."""
    found, pid = set(), os.getppid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (command)": state, then ppid
    return found


def run_folders() -> list[Path]:
    """Every folder under runs/ with a run.json, readable or not."""
    root = runs_dir()
    return sorted(f for f in root.iterdir() if (f / RUN_FILE).exists()) if root.is_dir() else []


def list_runs() -> list[Run]:
    """The runs that can be read, oldest first (`trainers.api.list_runs` also reports the others)."""
    runs = []
    for folder in run_folders():
        try:
            runs.append(load_run(folder))
        except MedtuiError:
            continue
    return sorted(runs, key=lambda r: r.info.created)


@dataclass(frozen=True)
class ProgressRecord:
    """One line of progress.jsonl: a training loss (with lr, speed and ETA) or an eval loss."""

    stage: Stage  # cpt or sft (an msft run goes through both)
    step: int
    max_steps: int
    epoch: float
    time: float
    loss: float | None = None
    eval_loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    eta_s: float | None = None


def append_progress(path: Path, record: ProgressRecord) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(to_json(record, drop_none=True)) + "\n")


def trim_progress(path: Path, stage: Stage, step: int | None) -> None:
    """Before a stage (re)starts: drop a line a crash cut short (the next record would be glued
    to it) and, when the stage resumes from its checkpoint at `step`, its records after that
    step, which are trained and recorded again. A restart from the beginning (`step` None) keeps
    the earlier records. The file is replaced atomically, by a new file (`trainers.api` follows
    it by its inode)."""
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    kept = [
        line
        for n, line in enumerate(lines, 1)
        if (record := parse_progress(line, f"{path}:{n}")) is not None
        and (step is None or record.stage is not stage or record.step <= step)
    ]
    if len(kept) < len(lines) or (text and not text.endswith("\n")):
        with atomic_file(path) as partial:
            partial.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def parse_progress(line: str, where: str) -> ProgressRecord | None:
    """One progress.jsonl line; None for one a crash cut short, an error for one nobody wrote."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    try:
        return from_json(ProgressRecord, data, where)
    except MedtuiError as e:
        raise MedtuiError(f"{e}: fix or delete that line") from None


@dataclass(frozen=True)
class Progress:
    """What a monitor shows: the latest step and the two loss curves."""

    stage: Stage | None  # the current stage; None before the first record
    step: int
    max_steps: int
    train: list[tuple[int, float]]  # (step, loss)
    eval: list[tuple[int, float]]  # (step, eval_loss)
    tokens_per_s: float | None
    eta_s: float | None
    last: ProgressRecord | None


def read_progress(folder: Path | str) -> Progress:
    """progress.jsonl of a run, the current stage's curves."""
    path = Path(folder) / PROGRESS_FILE
    records: list[ProgressRecord] = []
    if path.exists():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            record = parse_progress(line, f"{path}:{n}")
            if record is not None:
                records.append(record)
    if not records:
        return Progress(None, 0, 0, [], [], None, None, None)
    last = records[-1]
    records = [r for r in records if r.stage is last.stage]
    train = [(r.step, r.loss) for r in records if r.loss is not None]
    eval_ = [(r.step, r.eval_loss) for r in records if r.eval_loss is not None]
    return Progress(last.stage, last.step, last.max_steps, train, eval_, last.tokens_per_s, last.eta_s, last)


class PhaseName(Word):
    """The work before a run's first optimizer step, in the order it happens. On a small model it
    takes longer than the training itself (docs/results.md, "Training phases"), so each is shown."""

    STARTING = "starting"  # the worker imports torch, transformers and TRL
    DEQUANTIZING = "dequantizing"  # a GGUF base becomes an HF folder (once per GGUF)
    TOKENIZING = "tokenizing"
    LOADING = "loading the base"
    FIRST_STEP = "first step"  # building the trainer, then the first step

    @classmethod
    def noun(cls) -> str:
        return "phase"


@dataclass(frozen=True)
class Phase:
    """One line of phases.jsonl: a phase and how far it is (`total` None: not known ahead)."""

    name: PhaseName
    done: int
    started: float  # when this phase began
    time: float
    total: int | None = None

    def describe(self) -> str:
        """'tokenizing 120/480 · 0m07s': what a monitor shows while no step is recorded yet."""
        count = f" {self.done}/{self.total}" if self.total else f" {self.done}" if self.done else ""
        return f"{self.name}{count} · {format_duration(self.time - self.started)}"


OnPhase = Callable[[PhaseName, int, int | None], None]  # (phase, done, total)


class PhaseLog:
    """Appends `Phase` lines for monitors: each phase's start and end always, its progress in
    between at most twice a second (tokenizing reports every row)."""

    INTERVAL_S = 0.5

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: PhaseName | None = None
        self.started = self.written = 0.0

    def __call__(self, name: PhaseName, done: int, total: int | None = None) -> None:
        now = time.time()
        if name is not self.current:
            self.current, self.started = name, now
        elif now - self.written < self.INTERVAL_S and done != total:
            return
        self.written = now
        if is_main_process():
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(to_json(Phase(name, done, self.started, now, total), drop_none=True)) + "\n")


def parse_phase(line: str, where: str) -> Phase | None:
    """One phases.jsonl line; None for one a crash cut short."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    return from_json(Phase, data, where)


def read_phase(folder: Path | str) -> Phase | None:
    """The latest phase a run's worker reported, if any."""
    path = Path(folder) / PHASES_FILE
    if not path.exists():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    for n in range(len(lines), 0, -1):
        if (phase := parse_phase(lines[n - 1], f"{path}:{n}")) is not None:
            return phase
    return None


def register(run: Run) -> None:
    """Make a finished run's adapter a model the chat and evals can pick, under the run's name."""
    if not is_main_process():
        return
    check_name("model", run.name)
    registry = Registry()
    existing = next((s for s in registry.all() if s.name == run.name), None)
    if existing is not None:
        if existing.adapter != str(run.adapter):
            raise MedtuiError(
                f"model name {run.name!r} is taken: `medtui models add NAME {run.base} --adapter {run.adapter}`"
            )
        registry.remove(run.name)
    registry.add(ModelSpec(name=run.name, kind="hf", source=str(run.base), adapter=str(run.adapter)))

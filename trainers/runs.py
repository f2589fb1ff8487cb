"""Training runs are folders: everything needed to watch, resume, use or export one.

`<data dir>/runs/<name>/` holds `run.json` (the TrainConfig plus status, base, timestamps and
the data report), `train.log`, `progress.jsonl` (one JSON object per logging step),
`checkpoints/` (HF Trainer checkpoints; a rerun resumes from the last), `tensorboard/`, and
`adapter/`, the final PEFT adapter, which appears only once the run is complete (it is written
to a temporary folder and renamed). The export feature reads the same layout.
"""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from medtui.core import paths
from medtui.core.errors import MedtuiError
from medtui.core.registry import ModelSpec, Registry
from trainers.config import TrainConfig

RUNNING, FAILED, CANCELLED, COMPLETE = "running", "failed", "cancelled", "complete"
RUN_FILE, PROGRESS_FILE, LOG_FILE = "run.json", "progress.jsonl", "train.log"


def runs_dir() -> Path:
    return paths.data_dir() / "runs"


def run_dir(name: str) -> Path:
    return runs_dir() / name


def default_name(config: TrainConfig) -> str:
    model = Path(config.model).stem if config.model.endswith(".gguf") else config.model.rstrip("/").rsplit("/", 1)[-1]
    return f"{model}-{config.method}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class Run:
    dir: Path
    config: TrainConfig
    info: dict  # everything in run.json

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def status(self) -> str:
        return self.info.get("status", RUNNING)

    @property
    def base(self) -> str | None:
        return self.info.get("base")

    @property
    def adapter(self) -> Path:
        return self.dir / "adapter"


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def create_run(config: TrainConfig) -> Run:
    """A new run folder, or the existing one of the same name when its config matches (resume)."""
    name = config.name or default_name(config)
    config = config.replace(name=name)
    folder = run_dir(name)
    if (folder / RUN_FILE).exists():
        run = load_run(folder)
        if run.config.to_dict() != config.to_dict():
            raise MedtuiError(
                f"run {name!r} exists with other settings: `medtui train resume {name}` continues it, or pick another --name"
            )
        return run
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    info = {**config.to_dict(), "status": RUNNING, "base": None, "created": now, "updated": now, "data_report": {}}
    write_json_atomic(folder / RUN_FILE, info)
    return Run(folder, config, info)


def load_run(folder: Path | str) -> Run:
    """A run from its folder (or its name); a missing or unreadable run.json is a one-line error."""
    folder = Path(folder)
    if not folder.is_absolute() and not folder.exists():
        folder = run_dir(str(folder))
    path = folder / RUN_FILE
    if not path.exists():
        raise MedtuiError(f"no training run at {folder}: see `medtui train list`")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        config = TrainConfig.from_dict(info)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as e:
        raise MedtuiError(f"{path}: corrupt run file ({type(e).__name__}): fix or delete the run folder") from None
    return Run(folder, config, info)


def is_main_process() -> bool:
    """Under `accelerate launch` every GPU runs a worker; only rank 0 writes the run's files."""
    return int(os.environ.get("RANK", 0)) == 0


def update_run(run: Run, **changes) -> Run:
    if not is_main_process():
        return run
    info = {**load_run(run.dir).info, **changes, "updated": time.time()}
    write_json_atomic(run.dir / RUN_FILE, info)
    return Run(run.dir, run.config, info)


def list_runs() -> list[Run]:
    root = runs_dir()
    if not root.is_dir():
        return []
    runs = []
    for folder in sorted(root.iterdir()):
        if (folder / RUN_FILE).exists():
            try:
                runs.append(load_run(folder))
            except MedtuiError:
                continue
    return sorted(runs, key=lambda r: r.info.get("created", 0))


@dataclass(frozen=True)
class Progress:
    """What a monitor shows: the latest step and the two loss curves."""

    stage: str  # sft or cpt (an msft run goes through both)
    step: int
    max_steps: int
    train: list[tuple[int, float]]  # (step, loss)
    eval: list[tuple[int, float]]  # (step, eval_loss)
    tokens_per_s: float | None
    eta_s: float | None
    last: dict  # the latest record, as written


def read_progress(folder: Path | str) -> Progress:
    """progress.jsonl of a run; a line cut by a crash is skipped."""
    path = Path(folder) / PROGRESS_FILE
    records = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    stage = records[-1].get("stage", "") if records else ""
    records = [r for r in records if r.get("stage", "") == stage]  # the current stage's curves
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    eval_ = [(r["step"], r["eval_loss"]) for r in records if "eval_loss" in r]
    last = records[-1] if records else {}
    step, max_steps = last.get("step", 0), last.get("max_steps", 0)
    return Progress(stage, step, max_steps, train, eval_, last.get("tokens_per_s"), last.get("eta_s"), last)


def register(run: Run) -> None:
    """Make a finished run's adapter a model the chat and evals can pick, under the run's name."""
    if not is_main_process():
        return
    registry = Registry()
    existing = next((s for s in registry.all() if s.name == run.name), None)
    if existing is not None:
        if existing.adapter != str(run.adapter):
            raise MedtuiError(
                f"model name {run.name!r} is taken: `medtui models add NAME {run.base} --adapter {run.adapter}`"
            )
        registry.remove(run.name)
    registry.add(ModelSpec(name=run.name, kind="hf", source=str(run.base), adapter=str(run.adapter)))

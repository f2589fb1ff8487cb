"""Which checkpoint a stage resumes from: the newest one whose every file reads back as what the
Trainer will load from it.

A kill while saving leaves a checkpoint without its state files; a full disk, a bad copy or
tampering leaves one whose files are cut short or are not what they claim (a pickle that is not a
tensor file, an optimizer of another shape). Each is found here, before the Trainer touches it,
said in train.log, and removed; the one before it is tried, and with none left the stage trains
from the beginning. Files are read as the Trainer reads them: safetensors, JSON, and
`torch.load(weights_only=True)` with no more allowed than the Trainer allows (numpy's RNG state),
so nothing in a checkpoint runs code. `training_args.bin`, a full pickle, is never read.
"""

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainers.runs import is_main_process

STATE, OPTIMIZER, SCHEDULER, RNG = "trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth"
REQUIRED = (STATE, OPTIMIZER, SCHEDULER)  # the Trainer writes trainer_state.json last: with it, the save finished
NEVER_READ = ("training_args.bin",)


class Unusable(Exception):
    """Why a checkpoint cannot be resumed from."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    last: bool  # saved at the run's last step: the training in it is finished


def resume_point(folder: Path, trainer: Any, log: Callable[[str], None]) -> Checkpoint | None:
    """The newest usable checkpoint under `folder/checkpoints`, for `trainer` (its model and the
    optimizer it will build); unusable ones are removed, saying why."""
    checkpoints = folder / "checkpoints"
    found = (
        sorted(
            (p for p in checkpoints.glob("checkpoint-*") if p.name.rsplit("-", 1)[-1].isdigit()),
            key=lambda p: int(p.name.rsplit("-", 1)[-1]),
        )
        if checkpoints.is_dir()
        else []
    )
    for n, candidate in enumerate(reversed(found)):
        step = int(candidate.name.rsplit("-", 1)[-1])
        try:
            state = check(candidate, step, trainer)
        except Unusable as why:
            after = "trying the one before" if n + 1 < len(found) else "training from the beginning"
            log(f"{candidate.name} is unusable ({why}): removed; {after}")
            if is_main_process():
                shutil.rmtree(candidate, ignore_errors=True)
            continue
        return Checkpoint(candidate, step, last=0 < state.get("max_steps", 0) <= step)
    return None


def restore_finished(trainer: Any, checkpoint: Checkpoint) -> None:
    """Load a last-step checkpoint's adapter weights and Trainer state as they are, instead of
    `trainer.train(resume_from_checkpoint=...)`: that trains one step past the end when the last
    step falls mid-epoch (the Trainer looks for the end only after a step)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import TrainerState

    set_peft_model_state_dict(trainer.model, load_file(checkpoint.path / "adapter_model.safetensors"))
    trainer.state = TrainerState.load_from_json(str(checkpoint.path / STATE))


def check(checkpoint: Path, step: int, trainer: Any) -> dict:
    """Raise `Unusable` unless every file the Trainer loads from `checkpoint` reads back and fits;
    the Trainer's state in it."""
    missing = [name for name in REQUIRED if not (checkpoint / name).is_file()]
    if missing or not any(checkpoint.glob("*.safetensors")):
        raise Unusable(f"no {', '.join(missing) or 'weights'}: saving it was cut short")
    for path in sorted(checkpoint.iterdir()):
        if path.name in NEVER_READ or not path.is_file():
            continue
        if path.suffix == ".json":
            _read(path, _json)
        elif path.suffix == ".safetensors":
            _adapter_fits(path, trainer.model)
        elif path.suffix in (".pt", ".pth", ".bin"):
            _read(path, _torch_file)
    groups = _optimizer_groups(trainer)
    state = _read(checkpoint / STATE, _json)
    _read(checkpoint / STATE, lambda path: _state_fits(state, step))
    _read(checkpoint / OPTIMIZER, lambda path: _optimizer_fits(_torch_file(path), groups))
    _read(checkpoint / SCHEDULER, lambda path: _scheduler_fits(_torch_file(path), groups))
    if (checkpoint / RNG).is_file():
        _read(checkpoint / RNG, lambda path: _rng_fits(_torch_file(path)))
    return state


def _read(path: Path, reader: Callable[[Path], Any]) -> Any:
    """`reader(path)`, any error it raises an `Unusable` naming the file."""
    try:
        return reader(path)
    except Unusable:
        raise
    except Exception as e:  # a cut or crafted file makes its reader raise anything (and a crafted value, its checker)
        first = str(e).strip().split("\n")[0].split(". ")[0][:100]
        raise Unusable(f"{path.name}: {type(e).__name__}" + (f": {first}" if first else "")) from None


def _json(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise Unusable(f"{path.name}: not a JSON object")
    return data


def _torch_file(path: Path) -> Any:
    import torch
    from transformers.trainer_pt_utils import safe_globals

    with safe_globals():  # numpy's RNG state, as the Trainer allows it; nothing else beyond weights_only
        return torch.load(path, map_location="cpu", weights_only=True)


def _adapter_fits(path: Path, model: Any) -> None:
    """Every adapter tensor the model has is in the file, with its shape."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    saved = _read(path, load_file)
    try:
        expected = get_peft_model_state_dict(model)
    except (AttributeError, ValueError):  # not a PEFT model: nothing to compare against
        return
    for key, tensor in expected.items():
        if key not in saved:
            raise Unusable(f"{path.name}: no {key}")
        if saved[key].shape != tensor.shape:
            raise Unusable(f"{path.name}: {key} is {tuple(saved[key].shape)}, not {tuple(tensor.shape)}")


def _state_fits(state: dict, step: int) -> None:
    if (
        state.get("global_step") != step
        or not isinstance(state.get("max_steps", 0), int)
        or not isinstance(state.get("log_history", []), list)
    ):
        raise Unusable(f"{STATE} is not the state at step {step}")
    from transformers import TrainerState

    try:
        TrainerState(**state)
    except TypeError as e:
        raise Unusable(f"{STATE}: {e}") from None


def _optimizer_groups(trainer: Any) -> list[dict]:
    """The parameter groups of the optimizer the Trainer trains with: the one it was given, or
    the one `train()` will build the same way (built here and dropped, so it builds its own)."""
    if trainer.optimizer is not None:
        return trainer.optimizer.param_groups
    groups = trainer.create_optimizer().param_groups
    trainer.optimizer = None
    return groups


def _optimizer_fits(saved: Any, groups: list[dict]) -> None:
    """What `Optimizer.load_state_dict` and the next step need: the same groups, the same number of
    parameters in each, and per-parameter state the shape of its parameter."""
    import torch

    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict):
        raise Unusable(f"{OPTIMIZER}: not an optimizer state")
    saved_groups = saved.get("param_groups")
    if not isinstance(saved_groups, list) or [
        len(g.get("params", ())) for g in saved_groups if isinstance(g, dict)
    ] != [len(g["params"]) for g in groups]:
        raise Unusable(f"{OPTIMIZER}: its parameter groups are not this model's")
    params = {}
    for saved_group, group in zip(saved_groups, groups):
        params.update(zip(saved_group["params"], group["params"]))
        for key, value in group.items():
            if isinstance(value, float | int) and not isinstance(saved_group.get(key, value), float | int):
                raise Unusable(f"{OPTIMIZER}: {key} is not a number")
    for index, values in saved["state"].items():
        if index not in params or not isinstance(values, dict):
            raise Unusable(f"{OPTIMIZER}: state for a parameter the model does not have")
        for name, value in values.items():
            if not isinstance(value, torch.Tensor | float | int):
                raise Unusable(f"{OPTIMIZER}: {name} is not a tensor")
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != params[index].shape:
                raise Unusable(
                    f"{OPTIMIZER}: {name} is {tuple(value.shape)}, its parameter {tuple(params[index].shape)}"
                )


def _scheduler_fits(saved: Any, groups: list[dict]) -> None:
    """A learning-rate schedule (LambdaLR's state) for these groups."""
    if not isinstance(saved, dict) or not isinstance(saved.get("last_epoch"), int):
        raise Unusable(f"{SCHEDULER}: not a scheduler state")
    for key in ("base_lrs", "_last_lr"):
        values = saved.get(key, [0.0] * len(groups))
        if not isinstance(values, list) or len(values) != len(groups):
            raise Unusable(f"{SCHEDULER}: {key} is not one rate per parameter group")
        if not all(isinstance(v, float | int) for v in values):
            raise Unusable(f"{SCHEDULER}: {key} is not numbers")
    lambdas = saved.get("lr_lambdas", [])
    if not isinstance(lambdas, list) or not all(f is None or isinstance(f, dict) for f in lambdas):
        raise Unusable(f"{SCHEDULER}: lr_lambdas is not a schedule's")


def _rng_fits(saved: Any) -> None:
    """Each generator state sets on a fresh generator of its kind (the Trainer sets them mid-run)."""
    import numpy as np
    import torch

    random.Random().setstate(saved["python"])
    np.random.RandomState().set_state(saved["numpy"])
    torch.Generator().set_state(saved["cpu"])

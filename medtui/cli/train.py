"""`medtui train sft|cpt|msft|list|status|resume`: LoRA training runs, resumable, in the
foreground with progress or detached in the background.

Everything goes through `trainers.api`; this module renders its events. The options of
`sft|cpt|msft` are built from `TrainConfig`'s fields (their help and flags are stated there).
"""

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from medtui.core.errors import MedtuiError
from trainers import api

app = typer.Typer(no_args_is_help=True)

Detach = Annotated[bool, typer.Option("--detach", help="Run in the background; watch with `medtui train status`.")]
Launcher = Annotated[str, typer.Option(help="python, or accelerate: one worker per GPU (in the background).")]
_LISTS = tuple[str, ...]  # a TrainConfig field of this type is one comma-separated option


def _config_options() -> list[inspect.Parameter]:
    """A keyword parameter per TrainConfig field made with `option(...)`, in field order."""
    hints = typing.get_type_hints(api.TrainConfig)
    params = []
    for f in dataclasses.fields(api.TrainConfig):
        if "help" not in f.metadata:
            continue
        kind, default = hints[f.name], f.default
        if kind == _LISTS:
            kind, default = str, ",".join(default)
        option = typer.Option(*f.metadata["flags"], help=f.metadata["help"], min=f.metadata["min"])
        params.append(
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if default is dataclasses.MISSING else default,
                annotation=Annotated[kind, option],
            )
        )
    return params


def _config(method: str, options: dict[str, Any]) -> api.TrainConfig:
    hints = typing.get_type_hints(api.TrainConfig)
    values = {
        name: tuple(v.strip() for v in value.split(",") if v.strip()) if hints[name] == _LISTS else value
        for name, value in options.items()
    }
    return api.TrainConfig(method=method, **values)


def _command(method: str) -> Callable[..., None]:
    def command(*, detach: bool, launcher: str, **options: Any) -> None:
        _render(api.start(_config(method, options), detach=detach, launcher=launcher))

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]  (typer reads the options from it)
        [
            *_config_options(),
            inspect.Parameter("detach", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Detach),
            inspect.Parameter("launcher", inspect.Parameter.KEYWORD_ONLY, default="python", annotation=Launcher),
        ]
    )
    return command


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def print_record(record: api.ProgressRecord) -> None:
    where = f"[{record.stage}] step {record.step}/{record.max_steps}"
    if record.eval_loss is not None:
        print(f"{where}  eval loss {record.eval_loss:.4f}", file=sys.stderr)
        return
    speed = f"  {record.tokens_per_s:.0f} tok/s" if record.tokens_per_s is not None else ""
    print(
        f"{where}  loss {record.loss:.4f}  lr {record.lr or 0:.2e}{speed}  ETA {_fmt_time(record.eta_s)}",
        file=sys.stderr,
    )


def _finished(event: api.Finished) -> None:
    """Exit 0 when complete, 130 when stopped with its checkpoints, 1 with the error otherwise."""
    run = event.run
    if run.status is api.RunStatus.COMPLETE:
        print(f"{run.name}\tcomplete\tadapter {run.adapter}\tmodel {run.name!r} registered")
        return
    if run.status is api.RunStatus.FAILED:
        raise MedtuiError(run.info.error or f"run {run.name} failed: see {run.dir / 'train.log'}")
    if run.status is api.RunStatus.RUNNING:
        raise MedtuiError(
            f"the worker of run {run.name} exited ({event.exit_code}) without finishing: see {run.dir / 'train.log'}; "
            f"`medtui train resume {run.name}` continues it"
        )
    print(f"medtui: stopped; checkpoints are kept. Resume with `medtui train resume {run.name}`", file=sys.stderr)
    raise typer.Exit(130)


class _Phases:
    """Prints the work before the first step: each phase as it starts and ends, and its
    progress at most every 2 s between (the worker reports twice a second)."""

    EVERY_S = 2.0

    def __init__(self) -> None:
        self.shown: api.Phase | None = None

    def show(self, phase: api.Phase) -> None:
        last = self.shown
        if last and last.name is phase.name and phase.done != phase.total and phase.time - last.time < self.EVERY_S:
            return
        self.shown = phase
        print(f"preparing: {phase.describe()}", file=sys.stderr)


def _render(events: Iterator[api.TrainEvent]) -> None:
    phases = _Phases()
    for event in events:
        if isinstance(event, api.Phase):
            phases.show(event)
        elif isinstance(event, api.Started) and event.detached:
            name = event.run.name
            print(f"started run {name} in the background (pid {event.pid}); watch it with `medtui train status {name}`")
        elif isinstance(event, api.Logged):
            print(event.line, file=sys.stderr)
        elif isinstance(event, api.Stepped):
            print_record(event.record)
        elif isinstance(event, api.Finished):
            _finished(event)


app.command("sft", help="Supervised fine-tuning on question/reasoning/answer rows (loss on the response only).")(
    _command("sft")
)
app.command("cpt", help="Continual pretraining on medical text, packed to the context length.")(_command("cpt"))
app.command("msft", help="CPT, merge, then SFT on the result, as one resumable run.")(_command("msft"))


@app.command("list")
def list_cmd() -> None:
    """Every run: method, model, status, steps, final losses."""
    listing = api.list_runs()
    table = Table("run", "method", "model", "status", "step", "loss", "eval loss")
    for view in listing.runs:
        run, p = view.run, view.progress
        table.add_row(
            run.name,
            run.config.method,
            run.config.model,
            str(run.status) + (" (worker gone)" if view.orphaned else ""),
            f"{p.step}/{p.max_steps}",
            f"{p.train[-1][1]:.4f}" if p.train else "–",
            f"{p.eval[-1][1]:.4f}" if p.eval else "–",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    for problem in listing.unreadable:
        print(f"medtui: warning: {problem}", file=sys.stderr)


@app.command("status")
def status(run: Annotated[str, typer.Argument(help="Run name or folder.")]) -> None:
    """Progress of one run: step, losses, speed, ETA, and where its files are."""
    view = api.status(run)
    r, p = view.run, view.progress
    print(f"{r.name}: {r.status}  stage {p.stage or '-'}  step {p.step}/{p.max_steps}  ETA {_fmt_time(p.eta_s)}")
    if p.train:
        print(
            f"train loss {p.train[0][1]:.4f} -> {p.train[-1][1]:.4f}"
            + (f"  eval loss {p.eval[-1][1]:.4f}" if p.eval else "")
        )
    if p.tokens_per_s:
        print(f"{p.tokens_per_s:.0f} tokens/s")
    if r.info.error:
        print(f"error: {r.info.error}")
    print(f"folder {r.dir}" + (f"\nadapter {r.adapter}" if r.status is api.RunStatus.COMPLETE else ""))


@app.command("resume")
def resume_cmd(
    run: Annotated[str, typer.Argument(help="Run name or folder.")],
    detach: Annotated[bool, typer.Option("--detach", help="Continue in the background.")] = False,
    launcher: Launcher = "python",
) -> None:
    """Continue a stopped or crashed run from its last checkpoint."""
    _render(api.resume(run, detach=detach, launcher=launcher))

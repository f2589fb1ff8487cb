"""`medtui study run`: the seed study (base vs RAG vs SFT vs MSFT on the same benchmark items) in
one resumable command.

Everything goes through `medtui.workflows.study`; this module renders its events: training and
eval progress on stderr, then each method's row name and the comparison table on stdout. A
Ctrl-C stops it cleanly (a training run saves a checkpoint, an eval keeps what it saved), and the
same command continues.
"""

import sys
import time
from dataclasses import fields
from typing import Annotated

import typer

from evals.runner import Mode, TaskProgress
from evals.session import Failed, ModelLoading, TaskFinished
from evals.stats import format_accuracy
from export.quantize import QUANTS
from medtui.cli.evaluate import print_comparison, run_store
from medtui.cli.options import settings_from
from medtui.cli.train import print_record
from medtui.core.formatting import format_duration
from medtui.workflows.study import (
    STUDY_TASKS,
    Evaluated,
    Exported,
    Method,
    Note,
    StudyEvent,
    StudyFinished,
    StudyPlan,
    TableReady,
    TrainingFinished,
    TrainingLogged,
    TrainingProgress,
    TrainingStarted,
    run_study,
)
from trainers.api import TrainConfig

app = typer.Typer(no_args_is_help=True)
_HELP = {f.name: f.metadata.get("help", "") for f in fields(TrainConfig)}  # stated once, with the field


@app.command("run")
def run(
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="The base: registry name, .gguf file, HF folder or Hub id (default: config)."
        ),
    ] = None,
    sft_data: Annotated[str, typer.Option("--sft-data", help=f"{_HELP['data']} Trains sft and msft.")] = "",
    cpt_data: Annotated[str, typer.Option("--cpt-data", help=f"{_HELP['corpus']} Trains msft's first stage.")] = "",
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task", "-t", help=f"Benchmarks or groups (`medtui eval tasks`). Default: {' '.join(STUDY_TASKS)}."
        ),
    ] = None,
    methods: Annotated[str, typer.Option(help="Comma-separated rows: base, rag, sft, msft.")] = "base,rag,sft,msft",
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Sample N questions per task (fixed by --seed; the same for every method)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed for --limit and generation.")] = 0,
    mode: Annotated[
        str, typer.Option(help="loglik (letter log-probabilities) or generate (chain of thought).")
    ] = "loglik",
    index: Annotated[str | None, typer.Option(help="Retrieval index of the rag row (default: config).")] = None,
    top_k: Annotated[int, typer.Option(min=1, max=20, help="Sources per question in the rag row.")] = 3,
    sft_adapter: Annotated[str, typer.Option(help="Use this registered SFT model instead of training one.")] = "",
    msft_adapter: Annotated[str, typer.Option(help="Use this registered MSFT model instead of training one.")] = "",
    export: Annotated[
        str, typer.Option(help=f"Also export each adapter as a verified GGUF: {', '.join(QUANTS)} (default: none).")
    ] = "",
    name: Annotated[
        str, typer.Option(help="Study name: its runs are <name>-sft, <name>-msft (default: from the model and data).")
    ] = "",
    epochs: Annotated[float | None, typer.Option(help=_HELP["epochs"])] = None,
    max_steps: Annotated[int | None, typer.Option(help=_HELP["max_steps"])] = None,
    train_rows: Annotated[int | None, typer.Option(min=1, help="Train on the first N rows only.")] = None,
    max_seq_len: Annotated[int | None, typer.Option(help=_HELP["max_seq_len"])] = None,
    lr: Annotated[float | None, typer.Option(help=_HELP["lr"])] = None,
    batch_size: Annotated[int | None, typer.Option(help=_HELP["batch_size"])] = None,
    grad_accum: Annotated[int | None, typer.Option(help=_HELP["grad_accum"])] = None,
    offline: Annotated[bool | None, typer.Option("--offline/--online", help="Never try the Hub.")] = None,
) -> None:
    """Train what is missing (SFT; MSFT = CPT, merge, SFT), score base, base + RAG, SFT and MSFT on
    the same questions, and print the table: accuracy with its 95% interval, n, invalid rate, best
    constant answer and each method's paired difference from the base. Rerun it to continue."""
    settings = settings_from(offline=offline, index=index)
    train = {
        "epochs": epochs, "max_steps": max_steps, "limit": train_rows, "max_seq_len": max_seq_len, "lr": lr,
        "batch_size": batch_size, "grad_accum": grad_accum,
    }  # fmt: skip
    plan = StudyPlan(
        model or settings.model, sft_data, cpt_data, tuple(task or STUDY_TASKS),
        tuple(Method.parse(m.strip()) for m in methods.split(",") if m.strip()), limit, seed, Mode.parse(mode), top_k,
        sft_adapter, msft_adapter, export, name, {k: v for k, v in train.items() if v is not None},
    )  # fmt: skip
    started = time.monotonic()
    try:
        for event in run_study(settings, plan, store=run_store()):
            _render(event)
    except KeyboardInterrupt:
        _stopped()
    print(f"medtui: study {plan.study} took {format_duration(time.monotonic() - started)}", file=sys.stderr)


def _render(event: StudyEvent) -> None:
    """Progress on stderr; the rows and the table on stdout."""
    if isinstance(event, Note):
        print(event.text, file=sys.stderr)
    elif isinstance(event, TrainingStarted):
        what = "resuming" if event.resumed else "training"
        print(f"{event.method}: {what} run {event.run}", file=sys.stderr)
    elif isinstance(event, TrainingLogged):
        print(event.line, file=sys.stderr)
    elif isinstance(event, TrainingProgress):
        print_record(event.record)
    elif isinstance(event, TrainingFinished):
        what = "complete already, reused" if event.reused else "trained"
        print(f"{event.method}: {event.model} {what}", file=sys.stderr)
    elif isinstance(event, Evaluated):
        _render_eval(event)
    elif isinstance(event, TableReady):
        for method, row in event.rows.items():
            print(f"{method}\t{row}")
        print_comparison(event.comparison)
    elif isinstance(event, Exported):
        print(f"{event.method}: exported as {event.model} ({event.verified or 'exported before'})")
    elif isinstance(event, StudyFinished):
        if event.stopped:
            _stopped()
        if event.failures:
            raise typer.Exit(1)


def _render_eval(event: Evaluated) -> None:
    inner = event.event
    if isinstance(inner, ModelLoading):
        print(f"{event.method}: scoring {inner.model}", file=sys.stderr)
    elif isinstance(inner, TaskProgress):
        print(f"\r{event.method} {inner.task}: {inner.so_far()}", end="", file=sys.stderr, flush=True)
    elif isinstance(inner, Failed):
        print(f"\nmedtui: {event.method}{f' on {inner.task}' if inner.task else ''}: {inner.error}", file=sys.stderr)
    elif isinstance(inner, TaskFinished):
        predictions = inner.result.predictions
        accuracy = format_accuracy(sum(p.correct for p in predictions), len(predictions))
        print(f"\r{event.method} {inner.task}: {accuracy} (run {inner.result.key.id})", file=sys.stderr)


def _stopped() -> None:
    print("\nmedtui: stopped; what was trained and scored is saved. Run the same command to continue.", file=sys.stderr)
    raise typer.Exit(130)

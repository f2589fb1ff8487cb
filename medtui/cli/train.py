"""`medtui train sft|cpt|msft|list|status|resume`: LoRA training runs, resumable, in the
foreground with progress or detached in the background."""

import sys
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from trainers import api
from trainers.config import TrainConfig
from trainers.model import resolve_model
from trainers.prepare import check_sources
from trainers.runs import create_run, load_run

app = typer.Typer(no_args_is_help=True)

Model = Annotated[str, typer.Option("--model", "-m", help="Registry name, .gguf file, HF folder or Hub id.")]
Data = Annotated[
    str, typer.Option("--data", "-d", help="SFT rows: JSONL/CSV(.gz) file, saved dataset folder, or Hub id.")
]
Corpus = Annotated[
    str,
    typer.Option("--corpus", "-c", help="CPT text: index:NAME, Hub id (MedRAG/textbooks), JSONL/CSV, .txt/.md files."),
]


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def _print_record(record: dict) -> None:
    if "eval_loss" in record:
        print(
            f"[{record['stage']}] step {record['step']}/{record['max_steps']}  eval loss {record['eval_loss']:.4f}",
            file=sys.stderr,
        )
        return
    speed = f"  {record['tokens_per_s']:.0f} tok/s" if "tokens_per_s" in record else ""
    print(
        f"[{record['stage']}] step {record['step']}/{record['max_steps']}  loss {record['loss']:.4f}  "
        f"lr {record.get('lr', 0):.2e}{speed}  ETA {_fmt_time(record.get('eta_s'))}",
        file=sys.stderr,
    )


def _run(config: TrainConfig, detach: bool, launcher: str = "python") -> None:
    from trainers.launch import check_launcher
    from trainers.pipeline import execute
    from trainers.worker import file_log, stop_on_signals

    check_launcher(config, launcher)
    resolve_model(config.model)
    check_sources(config)
    run = create_run(config)
    if detach or launcher != "python":
        from trainers.launch import spawn

        pid = spawn(run, launcher)
        print(f"started run {run.name} in the background (pid {pid}); watch it with `medtui train status {run.name}`")
        return
    stop = threading.Event()
    stop_on_signals(stop)
    try:
        done = execute(run, stop, file_log(run, echo=lambda m: print(m, file=sys.stderr)), _print_record)
    except KeyboardInterrupt:
        done = load_run(run.dir)
    if done.status != "complete":
        print(f"medtui: stopped; checkpoints are kept. Resume with `medtui train resume {run.name}`", file=sys.stderr)
        raise typer.Exit(130)
    print(f"{run.name}\tcomplete\tadapter {done.adapter}\tmodel {run.name!r} registered")


def _common(
    method: str,
    model: str,
    data: str,
    corpus: str,
    name: str,
    subset: str | None,
    split: str,
    question_field: str | None,
    reasoning_field: str | None,
    answer_field: str | None,
    text_field: str | None,
    system_prompt: str,
    limit: int | None,
    decontaminate: bool,
    lora_r: int,
    lora_alpha: int,
    lora_dropout: float,
    target_modules: str,
    train_embeddings: bool,
    embedding_lr: float,
    lr: float,
    scheduler: str,
    warmup_ratio: float,
    epochs: float,
    max_steps: int,
    batch_size: int,
    grad_accum: int,
    max_seq_len: int,
    packing: bool,
    quant: str,
    backend: str,
    eval_fraction: float,
    seed: int,
    save_steps: int,
    eval_steps: int,
    gradient_checkpointing: bool,
) -> TrainConfig:
    targets = tuple(t.strip() for t in target_modules.split(",") if t.strip())
    return TrainConfig(
        method=method,
        model=model,
        data=data,
        corpus=corpus,
        name=name,
        subset=subset,
        split=split,
        question_field=question_field,
        reasoning_field=reasoning_field,
        answer_field=answer_field,
        text_field=text_field,
        system_prompt=system_prompt,
        limit=limit,
        decontaminate=decontaminate,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=targets,
        train_embeddings=train_embeddings,
        embedding_lr=embedding_lr,
        lr=lr,
        scheduler=scheduler,
        warmup_ratio=warmup_ratio,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_seq_len=max_seq_len,
        packing=packing,
        quant=quant,
        backend=backend,
        eval_fraction=eval_fraction,
        seed=seed,
        save_steps=save_steps,
        eval_steps=eval_steps,
        gradient_checkpointing=gradient_checkpointing,
    )


def _command(method: str):
    def command(
        model: Model,
        data: Data = "",
        corpus: Corpus = "",
        name: Annotated[
            str, typer.Option(help="Run name (folder and registered model); rerun with it to resume.")
        ] = "",
        subset: Annotated[str | None, typer.Option(help="Hub dataset config, e.g. en.")] = None,
        split: Annotated[str, typer.Option(help="Dataset split.")] = "train",
        question_field: Annotated[str | None, typer.Option(help="Question column (guessed if absent).")] = None,
        reasoning_field: Annotated[str | None, typer.Option(help="Reasoning column, put inside <think>.")] = None,
        answer_field: Annotated[str | None, typer.Option(help="Answer column.")] = None,
        text_field: Annotated[str | None, typer.Option(help="CPT text column.")] = None,
        system_prompt: Annotated[str, typer.Option(help="System message for SFT prompts.")] = "",
        limit: Annotated[int | None, typer.Option(min=1, help="Use the first N rows only.")] = None,
        decontaminate: Annotated[
            bool, typer.Option("--decontaminate/--no-decontaminate", help="Drop benchmark test items.")
        ] = True,
        lora_r: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
        lora_alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 32,
        lora_dropout: Annotated[float, typer.Option(help="LoRA dropout (unsloth uses 0).")] = 0.05,
        target_modules: Annotated[
            str, typer.Option(help="Comma-separated module names; default every linear layer.")
        ] = "",
        train_embeddings: Annotated[
            bool, typer.Option(help="Train the vocabulary too (CPT): LoRA on the embeddings, lm_head as a full copy.")
        ] = False,
        embedding_lr: Annotated[float, typer.Option(help="Learning rate of the embeddings and lm_head.")] = 1e-5,
        lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-4,
        scheduler: Annotated[str, typer.Option(help="cosine, linear, constant, constant_with_warmup.")] = "cosine",
        warmup_ratio: Annotated[float, typer.Option(help="Warmup, as a fraction of the steps.")] = 0.03,
        epochs: Annotated[float, typer.Option(help="Epochs.")] = 1.0,
        max_steps: Annotated[int, typer.Option(help="Stop after N optimizer steps (overrides --epochs).")] = -1,
        batch_size: Annotated[int, typer.Option(help="Sequences per micro-batch.")] = 2,
        grad_accum: Annotated[int, typer.Option(help="Micro-batches per optimizer step.")] = 4,
        max_seq_len: Annotated[
            int, typer.Option(help="Longest sequence; longer SFT rows are dropped and counted.")
        ] = 2048,
        packing: Annotated[
            bool, typer.Option("--packing/--no-packing", help="Pack SFT examples into full sequences.")
        ] = True,
        quant: Annotated[
            str,
            typer.Option(
                help="auto (4bit on CUDA, none on CPU), 4bit (QLoRA NF4; on CPU it saves memory, not time), none."
            ),
        ] = "auto",
        backend: Annotated[str, typer.Option(help="auto, unsloth (CUDA), hf.")] = "auto",
        eval_fraction: Annotated[float, typer.Option(help="Rows held out for the eval loss.")] = 0.05,
        seed: Annotated[int, typer.Option(help="Seed for the split, shuffling and LoRA init.")] = 42,
        save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 50,
        eval_steps: Annotated[int, typer.Option(help="Eval loss every N steps.")] = 50,
        gradient_checkpointing: Annotated[bool, typer.Option(help="Trade compute for memory.")] = False,
        detach: Annotated[
            bool, typer.Option("--detach", help="Run in the background; watch with `medtui train status`.")
        ] = False,
        launcher: Annotated[
            str, typer.Option(help="python, or accelerate: one worker per GPU (in the background).")
        ] = "python",
    ) -> None:
        config = _common(
            method,
            model,
            data,
            corpus,
            name,
            subset,
            split,
            question_field,
            reasoning_field,
            answer_field,
            text_field,
            system_prompt,
            limit,
            decontaminate,
            lora_r,
            lora_alpha,
            lora_dropout,
            target_modules,
            train_embeddings,
            embedding_lr,
            lr,
            scheduler,
            warmup_ratio,
            epochs,
            max_steps,
            batch_size,
            grad_accum,
            max_seq_len,
            packing,
            quant,
            backend,
            eval_fraction,
            seed,
            save_steps,
            eval_steps,
            gradient_checkpointing,
        )
        _run(config, detach, launcher)

    return command


app.command("sft", help="Supervised fine-tuning on question/reasoning/answer rows (loss on the response only).")(
    _command("sft")
)
app.command("cpt", help="Continual pretraining on medical text, packed to the context length.")(_command("cpt"))
app.command("msft", help="CPT, merge, then SFT on the result, as one resumable run.")(_command("msft"))


@app.command("list")
def list_cmd() -> None:
    """Every run: method, model, status, steps, final losses."""
    table = Table("run", "method", "model", "status", "step", "loss", "eval loss")
    for run in api.list_runs():
        p = api.read_progress(run.dir)
        status = run.status + (" (worker gone)" if run.status == "running" and not api.is_alive(run) else "")
        table.add_row(
            run.name,
            run.config.method,
            run.config.model,
            status,
            f"{p.step}/{p.max_steps}",
            f"{p.train[-1][1]:.4f}" if p.train else "–",
            f"{p.eval[-1][1]:.4f}" if p.eval else "–",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@app.command("status")
def status(run: Annotated[str, typer.Argument(help="Run name or folder.")]) -> None:
    """Progress of one run: step, losses, speed, ETA, and where its files are."""
    r = load_run(run)
    p = api.read_progress(r.dir)
    print(f"{r.name}: {r.status}  stage {p.stage or '-'}  step {p.step}/{p.max_steps}  ETA {_fmt_time(p.eta_s)}")
    if p.train:
        print(
            f"train loss {p.train[0][1]:.4f} -> {p.train[-1][1]:.4f}"
            + (f"  eval loss {p.eval[-1][1]:.4f}" if p.eval else "")
        )
    if p.tokens_per_s:
        print(f"{p.tokens_per_s:.0f} tokens/s")
    if r.info.get("error"):
        print(f"error: {r.info['error']}")
    print(f"folder {r.dir}" + (f"\nadapter {r.adapter}" if r.status == "complete" else ""))


@app.command("resume")
def resume_cmd(
    run: Annotated[str, typer.Argument(help="Run name or folder.")],
    detach: Annotated[bool, typer.Option("--detach", help="Continue in the background.")] = False,
    launcher: Annotated[
        str, typer.Option(help="python, or accelerate: one worker per GPU (in the background).")
    ] = "python",
) -> None:
    """Continue a stopped or crashed run from its last checkpoint."""
    _run(load_run(run).config, detach, launcher)

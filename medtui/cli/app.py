"""Subcommands. `medtui` alone opens the chat."""

import typer

from medtui.cli import ask, chat, doctor, evaluate, export, index, models, study, train
from medtui.cli.options import with_settings
from medtui.core.config import Settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    help="medtui: a local medical question-answering workbench. Run without a command to chat.",
)


@app.callback(invoke_without_command=True)
@with_settings
def _default(ctx: typer.Context, settings: Settings) -> None:
    """`medtui [flags]` is `medtui chat [flags]`."""
    if ctx.invoked_subcommand is None:
        chat.open_chat(settings)


app.command("chat", help="Open the chat (the default).")(chat.chat)
app.command("ask", help="Answer one question on stdout, with its sources.")(ask.ask)
app.command("doctor", help="Show what is installed and found: packages, models, indexes, GPU.")(doctor.doctor)
app.add_typer(models.app, name="models")  # its help is its own (models.py)
app.add_typer(index.app, name="index", help="Build and manage retrieval indexes.")
app.add_typer(evaluate.app, name="eval", help="Run medical benchmarks and compare models.")
app.add_typer(train.app, name="train", help="Train LoRA adapters (SFT, CPT, MSFT); resumable runs.")
app.command("export", help="Export a model or LoRA to a verified GGUF and register it.")(export.export)
app.add_typer(study.app, name="study", help="The seed study: base vs RAG vs SFT vs MSFT, one resumable command.")

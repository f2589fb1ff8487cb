"""Subcommands. `medtui` alone opens the chat."""

import typer

from medtui.cli import ask, chat, doctor, models

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    help="medtui: a local medical question-answering workbench. Run without a command to chat.",
)


@app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        chat.chat()


app.command("chat", help="Open the chat (the default).")(chat.chat)
app.command("ask", help="Answer one question on stdout, with its sources.")(ask.ask)
app.command("doctor", help="Show what is installed and found: packages, models, indexes, GPU.")(doctor.doctor)
app.add_typer(models.app, name="models", help="List, add and remove models.")

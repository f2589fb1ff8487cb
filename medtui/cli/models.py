"""`medtui models list|add|remove`."""

from pathlib import Path
from typing import Annotated

import typer

from medtui.core.registry import Registry, spec_from_source
from medtui.core.text import printable

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_models() -> None:
    """Every registered model, the built-in default first."""
    for spec in Registry().all():
        missing = spec.kind == "gguf" and not Path(spec.source).is_file()
        flag = " (built-in)" if spec.builtin else ""
        print(f"{printable(spec.name)}\t{printable(spec.describe())}{flag}{'  [file missing]' if missing else ''}")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A short name for the model.")],
    source: Annotated[str, typer.Argument(help="A .gguf file, a Hugging Face model folder, or a Hub id (org/model).")],
    adapter: Annotated[
        str | None, typer.Option("--adapter", help="A LoRA adapter: PEFT folder (HF) or GGUF LoRA.")
    ] = None,
) -> None:
    """Register a model so the chat and `ask` can use it."""
    spec = spec_from_source(name, source, adapter)
    Registry().add(spec)
    print(f"added {spec.name}: {printable(spec.describe())}")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The model's name.")]) -> None:
    """Unregister a model (its files stay where they are)."""
    Registry().remove(name)
    print(f"removed {printable(name)}")

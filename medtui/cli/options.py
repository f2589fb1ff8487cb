"""Flags shared by the commands that chat, so `chat` and `ask` take the same ones."""

from typing import Annotated

import typer

from medtui.core.config import Settings, apply_offline, load_settings

Model = Annotated[str | None, typer.Option("--model", "-m", help="Model name from `medtui models list`.")]
Index = Annotated[str | None, typer.Option("--index", help="Retrieval index name.")]
Rag = Annotated[bool | None, typer.Option("--rag/--no-rag", help="Ground answers in retrieved sources.")]
TopK = Annotated[int | None, typer.Option("--top-k", "-k", min=1, max=50, help="Sources to retrieve.")]
MaxTokens = Annotated[int | None, typer.Option("--max-tokens", min=1, help="Longest answer, in tokens.")]
NCtx = Annotated[int | None, typer.Option("--n-ctx", min=256, help="Context window, in tokens.")]
Temperature = Annotated[float | None, typer.Option("--temperature", min=0.0, help="Sampling temperature; 0 is greedy.")]
Offline = Annotated[bool | None, typer.Option("--offline/--online", help="Forbid (or allow) network calls to the Hub.")]


def settings_from(**flags) -> Settings:
    settings = load_settings().replace(**flags)
    apply_offline(settings)
    return settings

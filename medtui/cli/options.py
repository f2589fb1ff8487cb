"""The flags every command that chats takes (`medtui`, `chat`, `ask`), declared once."""

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from medtui.core.config import Settings, apply_offline, load_settings

FLAGS: dict[str, Any] = {
    "model": Annotated[str | None, typer.Option("--model", "-m", help="Model name from `medtui models list`.")],
    "index": Annotated[str | None, typer.Option("--index", help="Retrieval index name.")],
    "rag": Annotated[bool | None, typer.Option("--rag/--no-rag", help="Ground answers in retrieved sources.")],
    "top_k": Annotated[int | None, typer.Option("--top-k", "-k", min=1, max=50, help="Sources to retrieve.")],
    "max_tokens": Annotated[int | None, typer.Option("--max-tokens", min=1, help="Longest answer, in tokens.")],
    "n_ctx": Annotated[int | None, typer.Option("--n-ctx", min=0, help="Context window in tokens; 0: what fits.")],
    "temperature": Annotated[
        float | None, typer.Option("--temperature", min=0.0, help="Sampling temperature; 0 is greedy.")
    ],
    "offline": Annotated[
        bool | None, typer.Option("--offline/--online", help="Forbid (or allow) network calls to the Hub.")
    ],
}


def settings_from(**flags: Any) -> Settings:
    """Config file, then MEDTUI_* variables, then the flags given (None: not given)."""
    settings = load_settings().replace(**flags)
    apply_offline(settings)
    return settings


def with_settings(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the chat flags and call it with `settings=` built from them.

    typer reads the wrapper's signature: the command's own required parameters, one keyword
    option per entry of FLAGS, then the command's own options (`settings` itself is not shown).
    """
    own = [p for p in inspect.signature(command).parameters.values() if p.name != "settings"]
    required = [p for p in own if p.default is inspect.Parameter.empty]
    optional = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in required]
    flags = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
             for name, kind in FLAGS.items()]  # fmt: skip

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name, None) for name in FLAGS}
        return command(*args, settings=settings_from(**given), **kwargs)

    wrapper.__signature__ = inspect.Signature(required + flags + optional)  # type: ignore[attr-defined]
    return wrapper

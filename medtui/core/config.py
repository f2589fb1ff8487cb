"""Settings: defaults, overridden by config.toml, then MEDTUI_* variables, then CLI flags."""

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from medtui.core import hub, paths
from medtui.core.errors import MedtuiError
from medtui.core.text import read_utf8

# Who the assistant is; the prompt layout (rag/prompt.py) adds how to use sources when there are any.
SYSTEM_PROMPT = "You are a careful medical assistant. Be concise and plain; say when you are not sure."


PROMPT_LAYOUTS = ("system-rules", "sources-in-system", "question-last")


def _limits(low: float, high: float) -> dict[str, tuple[float, float]]:
    return {"range": (low, high)}


@dataclass(frozen=True)
class Settings:
    """Every setting, from whichever source, is checked against its range here (`__post_init__`),
    so a value from config.toml or a MEDTUI_* variable cannot skip the limits a flag has."""

    model: str = "smollm2"  # name in the model registry
    index: str = "default"  # retrieval index name
    rag: bool = True
    top_k: int = field(default=4, metadata=_limits(1, 50))
    dense: bool = True  # embedding search half of hybrid retrieval
    bm25: bool = True  # lexical half; both on = hybrid (fused with reciprocal rank fusion)
    reranker: str = ""  # optional cross-encoder (folder or Hub id) that reorders the fused sources
    n_ctx: int = field(default=4096, metadata=_limits(256, 1 << 20))
    # 0: one per logical core (os.cpu_count(), engines/llamacpp.default_threads)
    n_threads: int = field(default=0, metadata=_limits(0, 1024))
    max_tokens: int = field(default=512, metadata=_limits(1, 1 << 20))
    temperature: float = field(default=0.2, metadata=_limits(0.0, 2.0))
    seed: int = field(default=0, metadata=_limits(0, 2**32 - 1))
    offline: bool = False  # True: never touch the network (sets HF_HUB_OFFLINE)
    # Sampling that stops small models looping. None: the model's own default (registry `sampling`
    # table, else engines/sampling.py); a value here wins over the model's.
    repeat_penalty: float | None = field(default=None, metadata=_limits(1.0, 2.0))
    presence_penalty: float | None = field(default=None, metadata=_limits(0.0, 2.0))
    frequency_penalty: float | None = field(default=None, metadata=_limits(0.0, 2.0))
    min_p: float | None = field(default=None, metadata=_limits(0.0, 1.0))
    top_p: float | None = field(default=None, metadata=_limits(0.0, 1.0))
    top_k_sampling: int | None = field(default=None, metadata=_limits(0, 1000))  # 0: no top-k cut
    # Grounding (docs/grounding.md): answer only from passages that pass the relevance gate.
    require_sources: bool = False  # nothing passes the gate: say so instead of answering
    followup_turns: int = field(default=2, metadata=_limits(0, 10))  # earlier questions a follow-up is read with
    query_rewrite: bool = False  # let the model rewrite a follow-up as a standalone question (capable models)
    system_prompt: str = SYSTEM_PROMPT
    # how sources and question are laid out for the model (rag/prompt.py; chosen by bench/answers.py --layouts)
    prompt_layout: str = field(default="sources-in-system", metadata={"choices": PROMPT_LAYOUTS})
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> key(s), e.g. {"cancel": "ctrl+c"}

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_range(f, getattr(self, f.name), "settings")
        if not (self.dense or self.bm25):
            raise MedtuiError("settings: dense and bm25 are both off: turn one on (or set rag = false)")

    def replace(self, **changes: Any) -> "Settings":
        """A copy with the non-None changes applied (CLI flags default to None)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _check_range(f: dataclasses.Field, value: Any, origin: str) -> None:
    if "range" in f.metadata and value is not None:
        low, high = f.metadata["range"]
        if not low <= value <= high:
            raise MedtuiError(f"{origin}: {f.name} = {value!r} is out of range: use {low} to {high}")
    if "choices" in f.metadata and value not in f.metadata["choices"]:
        raise MedtuiError(f"{origin}: {f.name} = {value!r} is not known: use one of {', '.join(f.metadata['choices'])}")


def _coerce(name: str, kind: type, value: Any, origin: str) -> Any:
    try:
        if kind is bool and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(value)
            return lowered in {"1", "true", "yes", "on"}
        if kind is dict:
            if not isinstance(value, dict):
                raise ValueError(value)
            return {str(k): str(v) for k, v in value.items()}
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError):
        raise MedtuiError(f"{origin}: {name} = {value!r} is not a valid {kind.__name__}") from None


def _field_type(f: dataclasses.Field) -> type:
    """dict[str, str] -> dict; float | None -> float."""
    if isinstance(f.type, types.UnionType):
        return next(t for t in typing.get_args(f.type) if t is not type(None))
    return typing.get_origin(f.type) or f.type


def load_settings(path: Path | None = None) -> Settings:
    """Defaults < config.toml < MEDTUI_<FIELD> environment variables."""
    path = path or paths.config_file()
    values: dict[str, Any] = {}
    if path.exists():
        try:
            table = tomllib.loads(read_utf8(path))
        except tomllib.TOMLDecodeError as e:
            raise MedtuiError(f"{path}: invalid TOML ({e}): fix or delete the file") from None
        known = {f.name: f for f in fields(Settings)}
        for key, value in table.items():
            if key not in known:
                raise MedtuiError(f"{path}: unknown setting {key!r}; known: {', '.join(known)}")
            values[key] = _coerce(key, _field_type(known[key]), value, str(path))
            _check_range(known[key], values[key], str(path))
    for f in fields(Settings):
        env = os.environ.get(f"MEDTUI_{f.name.upper()}")
        if env is not None and f.name != "keys":
            values[f.name] = _coerce(f.name, _field_type(f), env, f"MEDTUI_{f.name.upper()}")
            _check_range(f, values[f.name], f"MEDTUI_{f.name.upper()}")
    return Settings(**values)


def apply_offline(settings: Settings) -> None:
    """Offline mode: make huggingface_hub and transformers refuse every network call."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if settings.offline:
        hub.go_offline()

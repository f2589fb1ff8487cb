"""Settings: defaults, overridden by config.toml, then MEDTUI_* variables, then CLI flags."""

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomlkit
import tomllib
from tomlkit.exceptions import TOMLKitError

from medtui.core import hub, paths
from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_file
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
    # 0: the model's trained context, capped by what fits in memory (engines/memory_fit.py)
    n_ctx: int = field(default=0, metadata=_limits(0, 1 << 20))
    # llama.cpp layers on the GPU; -1: as many as fit in free VRAM (none on a CPU build), 0: none
    n_gpu_layers: int = field(default=-1, metadata=_limits(-1, 100_000))
    # e.g. "8GiB": a model is planned within min(this, free RAM), and refused if it cannot be; "": free RAM
    memory_limit: str = ""
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
    task_dir: str = ""  # a folder of benchmark task files (evals/task_files.py) offered beside the built-in ones

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_range(f, getattr(self, f.name), "settings")
        if 0 < self.n_ctx < 256:
            raise MedtuiError(f"settings: n_ctx = {self.n_ctx} is too small: use 0 (auto) or 256 and up")
        parse_size(self.memory_limit, "memory_limit")
        if not (self.dense or self.bm25):
            raise MedtuiError("settings: dense and bm25 are both off: turn one on (or set rag = false)")

    @property
    def memory_limit_bytes(self) -> int | None:
        return parse_size(self.memory_limit, "memory_limit")

    def replace(self, **changes: Any) -> "Settings":
        """A copy with the non-None changes applied (CLI flags default to None)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str, name: str) -> int | None:
    """Bytes from "8GiB", "512 MiB", "1.5GB" or a bare number; None for ""."""
    text = text.strip()
    if not text:
        return None
    match = re.fullmatch(r"([\d.]+)\s*([a-zA-Z]*)", text)
    try:
        value = float(match[1]) * _UNITS[match[2].lower()] if match else -1
    except (KeyError, ValueError):
        value = -1
    if not 0 < value < 2**62:
        raise MedtuiError(f"settings: {name} = {text!r} is not a size: write it like 8GiB, 512MiB or 2GB")
    return int(value)


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


CONFIG_HEADER = (
    "medtui settings: every key is optional (defaults, and what each one means: medtui/core/config.py).\n"
    "MEDTUI_<KEY> environment variables and command-line flags win over this file.\n"
    "medtui writes the retrieval settings (F2) and the model (ctrl+o) here; your own keys and comments are kept."
)

# What an answer was made with: kept with each conversation (history) and shown in its export.
ANSWER_SETTINGS = ("index", "rag", "dense", "bm25", "top_k", "require_sources", "reranker", "temperature")


def answer_settings(settings: Settings) -> dict[str, Any]:
    """The settings that shape an answer, for the history: why two answers differ is then on record."""
    return {name: getattr(settings, name) for name in ANSWER_SETTINGS}


def env_overrides() -> dict[str, str]:
    """Setting name -> the MEDTUI_* variable that sets it now: such a setting is not the file's to keep."""
    return {f.name: f"MEDTUI_{f.name.upper()}" for f in fields(Settings) if f"MEDTUI_{f.name.upper()}" in os.environ}


@dataclass(frozen=True)
class Saved:
    """What `save_settings` did: the file, the keys it wrote, and those an environment variable sets
    (not written: the variable would win on the next start anyway, and its value is not the user's choice)."""

    path: Path
    written: tuple[str, ...]
    skipped: dict[str, str]  # setting -> the MEDTUI_* variable that overrides it

    def describe(self) -> str:
        """One line for the front end."""
        text = f"saved to {self.path}" if self.written else f"nothing to save in {self.path}"
        if self.skipped:
            text += "; not saved (set by the environment): " + ", ".join(
                f"{name} ({var})" for name, var in self.skipped.items()
            )
        return text


def save_settings(changes: dict[str, Any], path: Path | None = None) -> Saved:
    """Write chosen settings into config.toml so they last past a restart. The file keeps the
    user's other keys, order and comments (tomlkit); a new one starts with a comment header. A
    setting a MEDTUI_* variable overrides is left out, so an environment value never lands in the
    file; a value equal to the file's (or, with no key, to the default) is not written."""
    path = path or paths.config_file()
    known = {f.name: f for f in fields(Settings)}
    skipped = {name: var for name, var in env_overrides().items() if name in changes}
    try:
        document = tomlkit.parse(read_utf8(path)) if path.exists() else tomlkit.document()
    except TOMLKitError as e:
        raise MedtuiError(f"{path}: invalid TOML ({e}): fix or delete the file to save settings") from None
    if not path.exists():
        for line in CONFIG_HEADER.splitlines():
            document.add(tomlkit.comment(line))
        document.add(tomlkit.nl())
    written = []
    for name, value in changes.items():
        if name not in known or name == "keys":
            raise MedtuiError(f"settings: {name!r} cannot be saved; known: {', '.join(known)}")
        _check_range(known[name], value, "settings")
        if name in skipped or value is None:
            continue
        current = document[name].unwrap() if name in document else known[name].default
        if value == current:
            continue
        document[name] = value
        written.append(name)
    if written:
        _write_private(path, tomlkit.dumps(document))
    return Saved(path, tuple(written), skipped)


def _write_private(path: Path, text: str) -> None:
    """Replace `path` whole (a crash leaves the old file or the new one, never half), as 0600."""
    paths.private_dir(path.parent)
    try:
        with atomic_file(path) as partial:
            paths.private_file(partial)
            partial.write_text(text, encoding="utf-8")
    except OSError as e:
        raise MedtuiError(f"{path}: cannot save settings ({e.strerror}): check the folder's owner") from None


def apply_offline(settings: Settings) -> None:
    """Offline mode: make huggingface_hub and transformers refuse every network call."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if settings.offline:
        hub.go_offline()

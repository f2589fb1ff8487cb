"""Typed records and the enums shared by services (run status, export quant), with JSON
conversion in one place for dataclasses whose fields are enums, tuples, paths or other such
dataclasses.

A record read back is checked against its dataclass's type hints, so a status nobody wrote,
a misspelt key or a string where a number belongs is a one-line `MedtuiError` naming the
file, instead of a dict that fails later wherever it is read.
"""

import dataclasses
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, Union

from medtui.core.errors import MedtuiError

T = TypeVar("T")


class Word(str, Enum):
    """An enum of words users type and files store: shown as the word itself, parsed with a
    one-line error that lists the choices. Subclasses may rename what they are in `noun`."""

    def __str__(self) -> str:  # the word itself in messages, on every Python version
        return self.value

    @classmethod
    def parse(cls, value: "str | Word") -> "Word":
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(member.value for member in cls)
            raise MedtuiError(f"unknown {cls.noun()} {value!r}: use one of {choices}") from None

    @classmethod
    def noun(cls) -> str:
        return cls.__name__.lower()


class RunStatus(Word):
    """Where a job that outlives its front end stands (a training run, an eval)."""

    RUNNING = "running"
    FAILED = "failed"
    CANCELLED = "cancelled"
    COMPLETE = "complete"


class MessageStatus(Word):
    """A chat message in the history: written before it is shown, so `streaming` until it ends."""

    STREAMING = "streaming"
    COMPLETE = "complete"  # the model ended it
    CUT = "cut"  # it hit max_tokens: cut at the token limit
    CANCELLED = "cancelled"  # the user stopped it
    ERROR = "error"
    EMPTY = "empty"  # the model gave no answer text (nothing, or only a lead-in like "The answer is:")
    REFUSED = "refused"  # require_sources: nothing passed the relevance gate, so nothing was generated

    @property
    def fed_back(self) -> bool:
        """Whether this answer (with its question) goes into the next prompt of the conversation."""
        return self in (MessageStatus.COMPLETE, MessageStatus.CUT, MessageStatus.CANCELLED)

    @classmethod
    def noun(cls) -> str:
        return "message status"


class Quant(Word):
    """The GGUF types an export writes; each has its own verification thresholds."""

    F16 = "f16"
    Q8_0 = "q8_0"
    Q4_K_M = "q4_k_m"


def to_json(record: Any, drop_none: bool = False) -> dict[str, Any]:
    """A dataclass as JSON-ready values: enums as their values, tuples as lists, paths as text.
    `drop_none` leaves out unset optional fields (compact one-line records)."""
    out = {}
    for f in dataclasses.fields(record):
        value = _plain(getattr(record, f.name))
        if not (drop_none and value is None):
            out[f.name] = value
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def from_json(cls: type[T], data: Any, where: str | Path, **built: Any) -> T:
    """`cls` from parsed JSON, every key and value checked; the first problem is a one-line
    error that starts with `where` (the file, or file:line). `built` are fields the caller
    has made itself (a record stored flat beside the others' keys)."""
    try:
        return _record(cls, data, "", built)
    except MedtuiError as e:
        raise MedtuiError(f"{where}: {e}") from None


def _record(cls: type, data: Any, path: str, built: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise MedtuiError(f"{path.rstrip('.') or 'the record'} should be an object, not {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise MedtuiError(f"unknown key '{path}{unknown[0]}'")
    values = dict(built)
    for name, f in known.items():
        if name in data:
            values[name] = _value(hints[name], data[name], f"{path}{name}")
        elif name not in built and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise MedtuiError(f"missing key '{path}{name}'")
    try:
        return cls(**values)
    except MedtuiError as e:  # the record's own checks (TrainConfig refuses nonsense)
        raise MedtuiError(f"{path.rstrip('.')}: {e}" if path else str(e)) from None


def _value(hint: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"{path}: only `X | None` unions are supported, not {hint}")
        return _value(options[0], value, path)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in hint)
            raise MedtuiError(f"{path} {value!r} is not one of {allowed}") from None
    if dataclasses.is_dataclass(hint):
        return _record(hint, value, f"{path}.", {})
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise MedtuiError(f"{path} should be a list, not {value!r}")
        item = args[0] if args else Any
        items = [_value(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise MedtuiError(f"{path} should be an object, not {value!r}")
        item = args[1] if args else Any
        return {k: _value(item, v, f"{path}.{k}") for k, v in value.items()}
    return _scalar(hint, value, path)


def _scalar(hint: Any, value: Any, path: str) -> Any:
    if hint is Path and isinstance(value, str):
        return Path(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and isinstance(value, hint):
        return value
    if hint not in (Path, float, int, str, bool):
        raise TypeError(f"{path}: unsupported field type {hint}")
    raise MedtuiError(f"{path} should be {hint.__name__}, not {value!r}")

"""Benchmarks declared in a file instead of Python: a TOML or YAML file (as lm-evaluation-harness
declares its tasks) names the data and the fields that hold the question, the options and the
answer, and is read into the same `Task` the built-in benchmarks are, so it runs, resumes, is
scored and is stored by the same machinery. README.md ("Your own benchmark") has the format.

Relative paths resolve from the task file's folder. Every mistake in a file is a one-line error
naming the file and the key; mistakes in the data (a field it lacks, an answer that is not one of
the choices) are found when the questions load (`sources.ItemFields`), named the same way.
"""

import re
import string
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import tomllib
import yaml

from evals import sources
from evals.items import LETTERS
from evals.tasks import GROUPS, PLACEHOLDERS, TASKS, Source, Task
from medtui.core.datasource import TABLE_SUFFIXES
from medtui.core.errors import MedtuiError
from medtui.core.registry import is_hub_id
from medtui.core.text import read_utf8

SUFFIXES = (".toml", ".yaml", ".yml")
REQUIRED = ("name", "question", "choices", "answer")
OPTIONAL = ("description", "data", "sources", "split", "subset", "context", "subject", "id", "size", "prompt")
_NAME = re.compile(r"^[\w.-]+$")


def read_task_file(path: Path) -> Task:
    """The task one file declares (its data is read only when the task loads)."""
    spec = _parse(path)
    for key in spec:
        if key not in REQUIRED + OPTIONAL:
            raise MedtuiError(f"{path}: unknown key {key!r}: the keys are {', '.join(REQUIRED + OPTIONAL)}")
    for key in REQUIRED:
        if key not in spec:
            raise MedtuiError(f"{path}: missing key {key!r} (required: {', '.join(REQUIRED)})")
    if "data" in spec and "sources" in spec:
        raise MedtuiError(f"{path}: give data (one place) or sources (several, tried in order), not both")
    if "data" not in spec and "sources" not in spec:
        raise MedtuiError(
            f"{path}: missing key 'data' (a file, a saved dataset folder or a Hub id; or sources: several, in order)"
        )
    name = _text(spec, "name", path)
    if not _NAME.match(name):
        raise MedtuiError(f"{path}: name {name!r} may hold only letters, digits, '_', '-' and '.': rename it")
    named = {key: _text(spec, key, path) for key in ("context", "subject", "id") if key in spec}
    fields = sources.ItemFields(
        _text(spec, "question", path), _choices(spec["choices"], path), _text(spec, "answer", path), **named
    )
    prompt = _prompt(spec["prompt"], fields, path) if "prompt" in spec else ""
    split = _text(spec, "split", path) if "split" in spec else "test"
    subset = _text(spec, "subset", path) if "subset" in spec else None
    places = _sources(spec["sources"], path) if "sources" in spec else _data(_text(spec, "data", path), path)
    return Task(
        name,
        _text(spec, "description", path) if "description" in spec else f"task file {path.name}",
        tuple(
            Source(source, partial(sources.table, where, fields, str(path), split, subset))
            for source, where in places.items()
        ),
        _size(spec["size"], path) if "size" in spec else None,
        len(fields.choices) if isinstance(fields.choices, tuple) else None,
        with_context=bool(fields.context),
        prompt=prompt,
        origin=str(path),
    )


def read_task_folder(folder: Path) -> list[Task]:
    """The tasks of every task file directly in `folder`, in file-name order."""
    if not folder.is_dir():
        raise MedtuiError(f"{folder}: task folder not found: create it, or fix task_dir in config.toml")
    return [read_task_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in SUFFIXES]


def read_task_files(paths: Iterable[Path]) -> list[Task]:
    """The tasks of the task files given, a folder standing for every task file in it."""
    return [task for path in paths for task in (read_task_folder(path) if path.is_dir() else [read_task_file(path)])]


def known_tasks(task_dir: str = "", given: Iterable[Task] = ()) -> dict[str, Task]:
    """Every task a command can name: the built-in ones, those of the task folder (the `task_dir`
    setting; "" for none), then those `given` (read from --task-file); a name declared twice is a
    one-line error naming both places (the same file reached twice counts once)."""
    known = dict(TASKS)
    for task in [*(read_task_folder(Path(task_dir).expanduser()) if task_dir else []), *given]:
        taken = known.get(task.name)
        if taken is not None and taken.origin and Path(taken.origin).resolve() == Path(task.origin).resolve():
            continue
        if taken is not None or task.name in GROUPS:
            other = taken.origin if taken is not None and taken.origin else "a built-in benchmark"
            raise MedtuiError(f"{task.origin}: name {task.name!r} is taken by {other}: rename the task")
        known[task.name] = task
    return known


def _parse(path: Path) -> dict:
    """The file's keys and values, as TOML or YAML by its suffix."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise MedtuiError(f"{path}: not a task file: use .toml, .yaml or .yml")
    text = read_utf8(path)
    if suffix == ".toml":
        try:
            spec = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise MedtuiError(f"{path}: not valid TOML ({e}): fix the file") from None
    else:
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise MedtuiError(
                f"{path}{line}: not valid YAML ({getattr(e, 'problem', None) or e}): fix the file"
            ) from None
    if not isinstance(spec, dict):
        kind = "nothing" if spec is None else f"a {type(spec).__name__}"
        raise MedtuiError(f"{path}: a task file holds keys and values (name, data, question, ...), not {kind}")
    return spec


def _text(spec: dict, key: str, path: Path) -> str:
    value = spec[key]
    if not isinstance(value, str) or not value.strip():
        raise MedtuiError(f"{path}: {key} must be a non-empty text, not {value!r} (in YAML, quote words like yes)")
    return value


def _choices(value: object, path: Path) -> str | tuple[str, ...]:
    """A field holding the options (a list or a mapping), or the list of fields that hold them."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        if not 2 <= len(value) <= len(LETTERS):
            raise MedtuiError(f"{path}: choices lists {len(value)} fields: give 2 to {len(LETTERS)}")
        return tuple(value)
    raise MedtuiError(
        f"{path}: choices must name the field holding the options, or list the fields that hold them, not {value!r}"
    )


def _size(value: object, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MedtuiError(f"{path}: size must be the number of questions (a whole number above 0), not {value!r}")
    return value


def _prompt(value: object, fields: sources.ItemFields, path: Path) -> str:
    """A template with {question} and {options}, and {context} or {subject} only where a key names them."""
    if not isinstance(value, str):
        raise MedtuiError(f"{path}: prompt must be a text with {{question}} and {{options}}, not {value!r}")
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as e:
        raise MedtuiError(
            f"{path}: prompt is not a valid template ({e}): write a literal brace as {{{{ or }}}}"
        ) from None
    allowed = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    for name in sorted(used):
        if name not in PLACEHOLDERS:
            raise MedtuiError(f"{path}: prompt uses {{{name}}}: the placeholders are {allowed}")
        if name in ("context", "subject") and not getattr(fields, name):
            raise MedtuiError(f"{path}: prompt uses {{{name}}} but no {name} key names its field: add one")
    if not {"question", "options"} <= used:
        raise MedtuiError(f"{path}: prompt must show {{question}} and {{options}}")
    return value


def _data(value: str, path: Path) -> dict[str, str | Path]:
    """`data` as the task's one source, named by what it is: "hub" or "file"."""
    where = _location(value, path)
    return {"file" if isinstance(where, Path) else "hub": where}


def _sources(value: object, path: Path) -> dict[str, str | Path]:
    """`sources`: source name -> where its data is, tried in order (e.g. hub first, then a local copy)."""
    if not isinstance(value, dict) or not value:
        raise MedtuiError(
            f'{path}: sources must map source names to data, in the order to try them (hub = "org/name", '
            f'file = "local.jsonl"), not {value!r}'
        )
    for name, where in value.items():
        if not _NAME.match(str(name)) or not isinstance(where, str) or not where.strip():
            raise MedtuiError(
                f"{path}: sources.{name} must be a file, a saved dataset folder or a Hub id, not {where!r}"
            )
    return {str(name): _location(where, path) for name, where in value.items()}


def _location(value: str, path: Path) -> str | Path:
    """Local data as a Path (relative to the task file's folder), a Hub dataset as its id."""
    local = (path.parent / Path(value).expanduser()).resolve()
    if local.exists() or not is_hub_id(value) or value.lower().endswith(TABLE_SUFFIXES):
        return local
    return value

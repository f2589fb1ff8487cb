"""What `medtui export RUN_OR_ADAPTER` points at: a training run, a PEFT adapter folder, a
Hugging Face model folder, or a registered model; resolved to a base plus an optional adapter.

Nothing is loaded here, so every mistake is reported before any slow work starts.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from medtui.core import paths
from medtui.core.errors import MedtuiError
from medtui.core.registry import Registry

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


@dataclass(frozen=True)
class ExportSource:
    name: str  # default export name
    base: str  # HF folder, Hub id, or a .gguf file (loaded dequantized through transformers)
    adapter: Path | None  # PEFT adapter folder, merged into the base
    origin_gguf: Path | None = None  # the GGUF a trainer dequantized the base folder from

    @property
    def source_gguf(self) -> Path | None:
        """The GGUF whose weights the base is: a LoRA on it is judged as on its own base."""
        return Path(self.base) if self.base_is_gguf else self.origin_gguf

    @property
    def base_is_gguf(self) -> bool:
        return self.base.endswith(".gguf")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MedtuiError(f"{path}: unreadable ({e}): fix or recreate it") from None


def _base_of(named: str, where: Path) -> str:
    """A base named by a run or adapter: a registered model, a local folder or GGUF, or a Hub id."""
    if not named:
        raise MedtuiError(f"{where} does not name its base model: pass --base FOLDER_OR_GGUF")
    if Path(named).expanduser().exists():
        return str(Path(named).expanduser().resolve())
    try:
        spec = Registry().get(named)
    except MedtuiError:
        return named  # a Hub id; loading says how to get it when offline
    if spec.adapter:
        raise MedtuiError(f"base {named!r} already carries an adapter: pass --base with the plain base model")
    return spec.source


def _from_run(folder: Path, base: str | None) -> ExportSource:
    run = _read_json(folder / "run.json")
    status = run.get("status", "unknown")
    if status != "complete" or not (folder / "adapter" / "adapter_config.json").is_file():
        raise MedtuiError(f"training run {folder.name} is {status}, not complete: finish or resume it before exporting")
    origin = None
    if base is None:  # a trainer dequantizes a GGUF model into bases/: remember which GGUF
        model = str(run.get("model") or "")
        try:
            named = Registry().get(model)
            model = named.source if named.kind == "gguf" and not named.adapter else model
        except MedtuiError:
            pass
        origin = Path(model) if model.endswith(".gguf") and Path(model).is_file() else None
    return ExportSource(
        folder.name, base or _base_of(str(run.get("base", "")), folder / "run.json"), folder / "adapter", origin
    )


def _from_adapter(folder: Path, base: str | None) -> ExportSource:
    config = _read_json(folder / "adapter_config.json")
    return ExportSource(folder.name, base or _base_of(str(config.get("base_model_name_or_path") or ""), folder), folder)


def resolve_source(target: str, base: str | None = None) -> ExportSource:
    """Turn the user's RUN_OR_ADAPTER into a base and an adapter, refusing what cannot be exported."""
    if base is not None:
        base = _base_of(base, Path(base))
    path = Path(target).expanduser()
    if not path.exists() and (paths.data_dir() / "runs" / target).is_dir():
        path = paths.data_dir() / "runs" / target
    if path.is_dir():
        path = path.resolve()
        if (path / "run.json").is_file():
            return _from_run(path, base)
        if (path / "adapter_config.json").is_file():
            return _from_adapter(path, base)
        if (path / "config.json").is_file():
            return ExportSource(path.name, str(path), None)
        raise MedtuiError(
            f"{path}: not a training run (run.json), a PEFT adapter (adapter_config.json) or a model folder (config.json)"
        )
    if path.suffix == ".gguf":
        raise MedtuiError(f"{target} is already a GGUF file: register it with `medtui models add NAME {target}`")
    spec = Registry().get(target)
    if spec.kind != "hf":
        raise MedtuiError(f"model {target!r} is already a GGUF: export the Hugging Face model or adapter it came from")
    adapter = Path(spec.adapter) if spec.adapter else None
    return ExportSource(spec.name, base or spec.source, adapter)


def check_tokenizer_files(source: ExportSource) -> None:
    """The converter embeds the tokenizer: a local base (or the adapter) must ship its files."""
    if source.base_is_gguf:
        return  # the GGUF carries its own tokenizer
    folders = [Path(source.base)] + ([source.adapter] if source.adapter else [])
    if not folders[0].is_dir():
        return  # a Hub id: transformers fetches the tokenizer with the weights
    if not any((f / name).is_file() for f in folders for name in TOKENIZER_FILES):
        raise MedtuiError(
            f"no tokenizer files ({', '.join(TOKENIZER_FILES)}) in {source.base}: "
            "copy them from the original model into that folder and export again"
        )


def base_architectures(source: ExportSource) -> list[str] | None:
    """The base's architectures from its config.json, when it is a local folder (else known after loading)."""
    config = Path(source.base) / "config.json"
    if source.base_is_gguf or not config.is_file():
        return None
    return list(_read_json(config).get("architectures") or [])

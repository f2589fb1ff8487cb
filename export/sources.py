"""What `medtui export RUN_OR_ADAPTER` points at: a training run, a PEFT adapter folder, a
Hugging Face model folder, or a registered model; resolved to a base plus an optional adapter.

Nothing is loaded here, so every mistake is reported before any slow work starts.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from medtui.core import paths
from medtui.core.errors import MedtuiError
from medtui.core.records import RunStatus
from medtui.core.registry import is_peft_adapter, resolve_base, resolve_model
from trainers.runs import RUN_FILE, load_run

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
    """A base named by a run, an adapter or --base, resolved by the core; refused when it carries an adapter."""
    if not named:
        raise MedtuiError(f"{where} does not name its base model: pass --base FOLDER_OR_GGUF")
    return resolve_base(named).source


def _from_run(folder: Path, base: str | None) -> ExportSource:
    run = load_run(folder)
    if run.status is not RunStatus.COMPLETE or not (run.adapter / "adapter_config.json").is_file():
        raise MedtuiError(
            f"training run {run.name} is {run.status}, not complete: finish or resume it before exporting"
        )
    origin = None
    if base is None:  # a trainer dequantizes a GGUF model into bases/: remember which GGUF
        try:
            trained_on = resolve_model(run.config.model)
        except MedtuiError:  # the model it was trained on is gone: export still has its base folder
            trained_on = None
        if trained_on is not None and trained_on.kind == "gguf" and not trained_on.adapter:
            origin = Path(trained_on.source)
    return ExportSource(run.name, base or _base_of(run.base or "", folder / RUN_FILE), run.adapter, origin)


def resolve_source(target: str, base: str | None = None) -> ExportSource:
    """Turn the user's RUN_OR_ADAPTER into a base and an adapter, refusing what cannot be exported.
    A training run is read here; anything else (adapter or model folder, registered name, Hub
    id) is the core resolver's (`resolve_model`)."""
    if base is not None:
        base = _base_of(base, Path(base))
    path = Path(target).expanduser()
    if not path.exists() and (paths.data_dir() / "runs" / target).is_dir():
        path = paths.data_dir() / "runs" / target
    if path.is_dir():
        path = path.resolve()
        if (path / "run.json").is_file():
            return _from_run(path, base)
        if not (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
            raise MedtuiError(
                f"{path}: not a training run (run.json), a PEFT adapter (adapter_config.json) "
                "or a model folder (config.json)"
            )
        target = str(path)
    elif path.suffix == ".gguf":
        raise MedtuiError(f"{target} is already a GGUF file: register it with `medtui models add NAME {target}`")
    spec = resolve_model(target, base)
    if spec.kind == "gguf" and not is_peft_adapter(spec.adapter):
        raise MedtuiError(f"model {target!r} is already a GGUF: export the Hugging Face model or adapter it came from")
    return ExportSource(spec.name, spec.source, Path(spec.adapter) if spec.adapter else None)


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

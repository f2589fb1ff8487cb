"""One export, start to finish: merge → convert → quantize → verify → register.

Everything is written inside `<exports>/<name>.partial/` (`atomic_dir`); once the GGUF is
verified and the intermediate files are gone, that folder becomes `<exports>/<name>/` by one
rename, and only then is the model registered. An interrupted or failed export leaves no
final-named file and nothing registered; a partial folder left by a killed one is cleared next time.
"""

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from export import converter, space
from export.converter import Cancelled
from export.merge import Merged, count_params, load_merged, save_merged
from export.quantize import quantize
from export.sources import ExportSource, base_architectures, check_tokenizer_files, resolve_source
from export.verify import Verification, verify
from medtui.core import paths
from medtui.core.engines.gguf_file import check_gguf, file_type, nearest_quant
from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_dir
from medtui.core.records import Quant
from medtui.core.registry import Registry, spec_from_source
from medtui.core.text import check_name

STAGES = ("merge", "convert", "quantize", "verify", "register")
Progress = Callable[[str, float, str], None]  # (stage, overall fraction 0..1, detail)
LORA_TYPES = (Quant.F16, Quant.Q8_0)  # what convert_lora_to_gguf writes


@dataclass(frozen=True)
class ExportRequest:
    target: str  # run folder or name, PEFT adapter folder, HF model folder, or registered model
    quant: str = "q8_0"  # a Quant value, as the user typed it: export_model refuses others
    name: str | None = None
    base: str | None = None  # overrides the base the run or adapter names
    adapter_only: bool = False  # write a GGUF LoRA for a base GGUF instead of a merged model
    base_gguf: str | None = None  # the GGUF the LoRA is applied to (adapter route)
    out_dir: Path | None = None  # default: <data>/gguf


@dataclass(frozen=True)
class ExportResult:
    name: str
    gguf: Path  # the model GGUF (the base GGUF on the adapter route)
    adapter: Path | None  # the GGUF LoRA on the adapter route
    verification: Verification
    seconds: float


def exports_dir() -> Path:
    """Exported GGUFs, apart from `exports/` where the chat writes conversations as Markdown."""
    return paths.data_dir() / "gguf"


def _estimate_params(source: ExportSource) -> int | None:
    """Parameter count from the files on disk, before loading anything; None for a Hub id."""
    base = Path(source.base)
    if source.base_is_gguf:
        from gguf import GGUFReader

        return sum(int(t.n_elements) for t in GGUFReader(base).tensors)
    weights = sorted(base.glob("*.safetensors")) if base.is_dir() else []
    if not weights:
        return None
    from safetensors import safe_open

    total = 0
    for f in weights:
        with safe_open(str(f), "np") as st:
            for key in st.keys():  # noqa: SIM118 (safe_open is not a dict: it cannot be iterated)
                total += int(_numel(st.get_slice(key).get_shape()))
    return total


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _check_architecture(archs: list[str], where: str) -> None:
    known = converter.supported_architectures(converter.find_converter())
    if archs and not any(a in known for a in archs):
        raise MedtuiError(
            f"unknown architecture {', '.join(archs)} in {where}: llama.cpp's converter (llama-cpp-python "
            f"{converter.llama_cpp_version()}) cannot turn it into a GGUF; "
            "pick a supported model (Llama, Qwen, Mistral, Gemma, …)"
        )


def _threshold_kind(quant: Quant, source: ExportSource, base_gguf: Path | None) -> str:
    """The thresholds that apply: on the adapter route (a base GGUF) those of the base GGUF's own
    file type, unless the HF reference was dequantized from that very file (identical weights)."""
    if base_gguf is None:
        return quant.value
    if source.source_gguf is not None and source.source_gguf.resolve() == base_gguf.resolve():
        return "same_base"
    return nearest_quant(file_type(base_gguf)).value


def export_model(
    request: ExportRequest, progress: Progress | None = None, cancel: threading.Event | None = None
) -> ExportResult:
    """Export, verify and register; raises MedtuiError (bad input, failed check) or Cancelled."""
    started = time.monotonic()
    cancel = cancel or threading.Event()
    report = progress or (lambda stage, fraction, detail: None)

    def stage(name: str, detail: str = "", within: float = 0.0) -> None:
        if cancel.is_set():
            raise Cancelled(f"export stopped before {name}")
        report(name, (STAGES.index(name) + within) / len(STAGES), detail)

    # -- everything checkable before any work -------------------------------------------
    quant = Quant.parse(request.quant)
    if request.adapter_only and quant not in LORA_TYPES:
        raise MedtuiError(
            f"a GGUF LoRA is written as {' or '.join(map(str, LORA_TYPES))}, not {quant}: pass --quant f16 or q8_0"
        )
    source = resolve_source(request.target, request.base)
    base_gguf = _adapter_base_gguf(request, source) if request.adapter_only else None
    kind = _threshold_kind(quant, source, base_gguf)
    name = check_name("export", request.name or f"{source.name}-{'lora-' if request.adapter_only else ''}{quant}")
    out_dir = Path(request.out_dir or exports_dir())
    final = out_dir / name
    if any(spec.name == name for spec in Registry().all()):
        raise MedtuiError(f"model {name!r} is already registered: pass --name or `medtui models remove {name}`")
    if final.exists():
        raise MedtuiError(f"{final} already exists: pass --name, or delete that folder")
    converter.find_converter()
    check_tokenizer_files(source)
    if archs := base_architectures(source):
        _check_architecture(archs, source.base)
    n_params = _estimate_params(source)
    merged_dtype = "f32"  # worst case for the merged folder
    if n_params is not None:
        space.check_space(out_dir, space.needed_bytes(n_params, merged_dtype, quant))

    with atomic_dir(final) as work:  # a stale partial from an interrupted export is cleared first
        stage("merge", f"loading {source.base}" + (f" + {source.adapter}" if source.adapter else ""))
        merged = load_merged(source)
        if n_params is None:
            space.check_space(out_dir, space.needed_bytes(count_params(merged), merged_dtype, quant))
        _check_architecture(list(merged.model.config.architectures or []), source.base)
        if request.adapter_only:
            gguf, adapter = base_gguf, _convert_adapter(source, merged, work, quant, stage, cancel)
        else:
            gguf, adapter = _convert_model(merged, work, name, quant, stage, cancel), None
        stage("verify", "comparing with the merged Hugging Face model")
        result = verify(gguf, merged, kind, adapter)
        if not result.passed:
            raise MedtuiError(f"the export failed verification ({kind}), nothing registered: {result.describe()}")
        stage("register", f"registering {name}")
        (work / "verification.json").write_text(
            json.dumps(
                {
                    "source": request.target,
                    "base": source.base,
                    "adapter": str(source.adapter) if source.adapter else None,
                    "quant": quant.value,
                    "llama_cpp_python": converter.llama_cpp_version(),
                    **result.to_dict(),
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    placed = final / (adapter or gguf).name
    if request.adapter_only:
        Registry().add(spec_from_source(name, str(base_gguf), str(placed)))
        gguf, adapter = base_gguf, placed
    else:
        Registry().add(spec_from_source(name, str(placed)))
        gguf = placed
    report("register", 1.0, f"registered {name}")
    return ExportResult(name, gguf, adapter, result, time.monotonic() - started)


def _adapter_base_gguf(request: ExportRequest, source: ExportSource) -> Path:
    if source.adapter is None:
        raise MedtuiError(
            f"{request.target} has no LoRA adapter: the adapter route needs a training run or a PEFT adapter"
        )
    if request.base_gguf:
        return check_gguf(Path(request.base_gguf).expanduser().resolve(), "base GGUF")
    if source.source_gguf is not None:
        return check_gguf(source.source_gguf, "base GGUF")
    raise MedtuiError(
        f"the adapter route needs the base as a GGUF: export {source.base} first "
        f"(`medtui export {source.base} --quant f16`) and pass its file with --base-gguf"
    )


def _converter_progress(stage: Callable[..., None], name: str) -> Callable[[str], None]:
    def on_line(line: str) -> None:
        if line.strip():
            stage(name, line.strip()[-120:], 0.5)

    return on_line


def _convert_model(merged: Merged, work: Path, name: str, quant: Quant, stage, cancel: threading.Event) -> Path:
    hf = work / "hf"
    stage("merge", f"saving the merged model to {hf}", 0.5)
    save_merged(merged, hf)
    stage("convert", "llama.cpp convert_hf_to_gguf.py")
    f16 = work / f"{name}.f16.gguf"
    converter.run_converter(
        "convert_hf_to_gguf.py",
        [str(hf), "--outfile", str(f16), "--outtype", "f16"],
        _converter_progress(stage, "convert"),
        cancel,
    )
    shutil.rmtree(hf)
    if quant is Quant.F16:
        return f16
    stage("quantize", f"llama.cpp quantize to {quant}")
    out = work / f"{name}.{quant}.gguf"
    quantize(f16, out, quant)
    f16.unlink()
    return out


def _convert_adapter(
    source: ExportSource, merged: Merged, work: Path, quant: Quant, stage, cancel: threading.Event
) -> Path:
    base_config = work / "base-config"  # the converter reads the base's config.json, not its weights
    merged.model.config.save_pretrained(base_config)
    merged.tokenizer.save_pretrained(base_config)
    stage("convert", "llama.cpp convert_lora_to_gguf.py")
    out = work / f"{source.name}.lora.{quant}.gguf"
    converter.run_converter(
        "convert_lora_to_gguf.py",
        [str(source.adapter), "--base", str(base_config), "--outfile", str(out), "--outtype", quant.value],
        _converter_progress(stage, "convert"),
        cancel,
    )
    shutil.rmtree(base_config)  # the export folder keeps the GGUF LoRA alone
    return out

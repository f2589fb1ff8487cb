"""Cheap checks on a GGUF file before handing it to llama.cpp, whose own errors are vague, and
its file type (`general.file_type`) read as gguf's own `LlamaFileType`, never as bare numbers."""

from pathlib import Path
from typing import TYPE_CHECKING

from medtui.core.errors import MedtuiError
from medtui.core.records import Quant

if TYPE_CHECKING:  # gguf takes 0.1 s to import, and the chat only needs `check_gguf`
    from gguf import LlamaFileType


def check_gguf(path: str | Path, what: str = "model") -> Path:
    """The path, if it is a readable file that starts like a GGUF; checked when a model is added
    and again when it is loaded."""
    path = Path(path)
    if not path.is_file():
        raise MedtuiError(f"{what} file {path} not found: fix the path with `medtui models` or reinstall it")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise MedtuiError(f"{what} file {path} cannot be read ({e.strerror}): check its permissions") from None
    if magic != b"GGUF":
        raise MedtuiError(
            f"{what} file {path} is not a GGUF file (corrupt or wrong format): re-download or re-export it"
        )
    return path


def quant_file_type(quant: Quant) -> "LlamaFileType":
    """The `LlamaFileType` llama.cpp writes for an export type (also llama_model_quantize's ftype)."""
    from gguf import LlamaFileType

    return {
        Quant.F16: LlamaFileType.MOSTLY_F16,
        Quant.Q8_0: LlamaFileType.MOSTLY_Q8_0,
        Quant.Q4_K_M: LlamaFileType.MOSTLY_Q4_K_M,
    }[Quant(quant)]


def file_type(path: Path) -> "LlamaFileType":
    """The GGUF's `LlamaFileType`; MOSTLY_F16 when it does not say (converters that predate the key)."""
    from gguf import GGUFReader

    field = GGUFReader(path).get_field("general.file_type")
    return parse_file_type(int(field.contents()) if field is not None else None, path)


def parse_file_type(value: int | None, path: Path) -> "LlamaFileType":
    """`general.file_type` as read by any reader (gguf-py, or llama.cpp's metadata in memory_fit)."""
    from gguf import LlamaFileType

    value = LlamaFileType.MOSTLY_F16 if value is None else value
    try:
        ftype = LlamaFileType(value)
    except ValueError:
        ftype = None
    if ftype is None or ftype is LlamaFileType.GUESSED:
        raise MedtuiError(
            f"{path}: unknown GGUF file type {value}: use a base GGUF of a known type (f16, q8_0, q4_k_m, …)"
        )
    return ftype


def nearest_quant(ftype: "LlamaFileType") -> Quant:
    """The export type whose verification thresholds apply to a file of this type: float files
    as f16, Q8_0 as q8_0, every other quantized type as q4_k_m, the loosest there are."""
    from gguf import LlamaFileType

    if ftype in (LlamaFileType.ALL_F32, LlamaFileType.MOSTLY_F16, LlamaFileType.MOSTLY_BF16):
        return Quant.F16
    if ftype is LlamaFileType.MOSTLY_Q8_0:
        return Quant.Q8_0
    return Quant.Q4_K_M

"""Quantize an f16 GGUF through llama.cpp itself (the `llama_model_quantize` API of llama-cpp-python)."""

import ctypes
import os
from pathlib import Path

from medtui.core.errors import MedtuiError

QUANTS = ("f16", "q8_0", "q4_k_m")


def _ftype(quant: str) -> int:
    import llama_cpp

    return {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M}[quant]


def quantize(source: Path, dest: Path, quant: str) -> None:
    """Write `dest` as `quant` from the f16 GGUF `source` (llama.cpp copies the metadata, chat template included)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _ftype(quant)
    params.nthread = os.cpu_count() or 1
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(dest).encode(), ctypes.byref(params))
    if code != 0 or not dest.is_file():
        raise MedtuiError(
            f"llama.cpp could not quantize {source} to {quant} (code {code}): check the disk and the f16 file"
        )

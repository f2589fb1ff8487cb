"""Quantize an f16 GGUF through llama.cpp itself (the `llama_model_quantize` API of llama-cpp-python)."""

import ctypes
import os
from pathlib import Path

from medtui.core.engines.gguf_file import quant_file_type
from medtui.core.errors import MedtuiError
from medtui.core.records import Quant

QUANTS = tuple(q.value for q in Quant)  # the choices the CLI and the TUI offer


def quantize(source: Path, dest: Path, quant: Quant) -> None:
    """Write `dest` as `quant` from the f16 GGUF `source` (llama.cpp copies the metadata, chat template included)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(quant_file_type(quant))  # gguf's LlamaFileType is llama.cpp's llama_ftype
    params.nthread = os.cpu_count() or 1
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(dest).encode(), ctypes.byref(params))
    if code != 0 or not dest.is_file():
        raise MedtuiError(
            f"llama.cpp could not quantize {source} to {quant} (code {code}): check the disk and the f16 file"
        )

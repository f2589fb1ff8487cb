"""Disk space is checked before an export starts, so it never dies half-way through a GGUF."""

import shutil
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.formatting import format_size

# Bytes per parameter of each file an export writes (k-quants and Q8_0 carry block scales).
BYTES_PER_PARAM = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 1.07, "q4_k_m": 0.61}
MARGIN = 1.10


def free_bytes(folder: Path) -> int:
    """Free space on the disk holding `folder` (or its nearest existing parent)."""
    folder = Path(folder)
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def needed_bytes(n_params: int, merged_dtype: str, quant: str) -> int:
    """Merged HF folder + the f16 GGUF the converter writes + the quantized GGUF (when not f16)."""
    per_param = (
        BYTES_PER_PARAM[merged_dtype] + BYTES_PER_PARAM["f16"] + (0 if quant == "f16" else BYTES_PER_PARAM[quant])
    )
    return int(n_params * per_param * MARGIN)


def check_space(folder: Path, needed: int) -> None:
    free = free_bytes(folder)
    if free < needed:
        raise MedtuiError(
            f"not enough disk space in {folder}: the export needs about {format_size(needed)}, "
            f"{format_size(free)} free; "
            "free some space or pass --out on a bigger disk"
        )

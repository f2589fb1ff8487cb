"""Cheap checks on a GGUF file before handing it to llama.cpp, whose own errors are vague."""

from pathlib import Path

from medtui.core.errors import MedtuiError


def check_gguf(path: str | Path, what: str = "model") -> Path:
    path = Path(path)
    if not path.is_file():
        raise MedtuiError(f"{what} file {path} not found: fix the path with `medtui models` or reinstall it")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise MedtuiError(
            f"{what} file {path} is not a GGUF file (corrupt or wrong format): re-download or re-export it"
        )
    return path

"""A short id for the exact weights, tokenizer and chat template a model spec points at.

Eval runs are keyed by it, so a model retrained or replaced under the same name starts a new
run instead of resuming (or being compared as) the old one. Big files are sampled: their size
and 64 windows of 64 KiB spread evenly from first byte to last, so a multi-GB GGUF costs
milliseconds yet a LoRA merged into most layers changes the id (the header, embeddings and
final norm alone would not); small files are hashed whole.
A Hub id that is not a local path is identified by the id itself.
"""

import hashlib
from pathlib import Path

from medtui.core.registry import ModelSpec

WINDOW, WINDOWS = 1 << 16, 64
MODEL_FILES = (
    "*.gguf",
    "*.safetensors",
    "*.bin",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "chat_template.jinja",
    "adapter_config.json",
)


def _file_digest(path: Path, digest) -> None:
    size = path.stat().st_size
    digest.update(f"{path.name}:{size}\n".encode())
    with open(path, "rb") as f:
        if size <= WINDOW * WINDOWS:
            digest.update(f.read())
            return
        for i in range(WINDOWS):
            f.seek(i * (size - WINDOW) // (WINDOWS - 1))
            digest.update(f.read(WINDOW))


def _location_digest(location: str, digest) -> None:
    path = Path(location).expanduser()
    if path.is_file():
        _file_digest(path, digest)
    elif path.is_dir():
        files = sorted({f for pattern in MODEL_FILES for f in path.glob(pattern) if f.is_file()})
        for f in files:
            _file_digest(f, digest)
    else:
        digest.update(f"hub:{location}\n".encode())


def model_fingerprint(spec: ModelSpec) -> str:
    digest = hashlib.sha1()
    _location_digest(spec.source, digest)
    if spec.adapter:
        digest.update(b"adapter\n")
        _location_digest(spec.adapter, digest)
    return digest.hexdigest()[:12]

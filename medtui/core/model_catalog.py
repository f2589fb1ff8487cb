"""The curated catalogue of models to pull (`model_catalog.toml`, packaged beside this module),
and whether each fits this machine: the loader's own estimate (`engines/memory_fit.py`) from the
entry's recorded shape and file size, against the memory free when asked."""

from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from medtui.core.engines.memory_fit import Available, ModelInfo, auto_gpu_layers, estimate
from medtui.core.engines.memory_fit import fits as fits_memory
from medtui.core.errors import MedtuiError
from medtui.core.formatting import format_size
from medtui.core.model_pull import quant_of
from medtui.core.text import check_name, read_utf8

CATALOG_FILE = Path(__file__).with_name("model_catalog.toml")
_KEYS = {"name", "gguf_repo", "hf_id", "params_b", "context", "licence", "notes", "verified", "shape", "files"}
_SHAPE = ("layers", "embedding", "feed_forward", "heads", "heads_kv", "vocab")
_SHAPE_OPTIONAL = ("head_dim",)  # where the config's head_dim is not embedding / heads (Gemma 3)
TIGHT = 0.8  # a model needing more than this share of the free memory is "tight"


@dataclass(frozen=True)
class CatalogFile:
    file: str
    size_bytes: int | None  # None: not verified, shown as "?"


@dataclass(frozen=True)
class Shape:
    """The dimensions the memory estimate needs, from the model's HF config."""

    layers: int
    embedding: int
    feed_forward: int
    heads: int
    heads_kv: int
    vocab: int
    head_dim: int | None = None  # None: embedding // heads


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    gguf_repo: str
    hf_id: str
    params_b: float
    context: int
    licence: str
    verified: str  # the public source the repo, files and sizes were checked against
    files: dict[str, CatalogFile]  # quant word (upper-case) -> file
    shape: Shape
    notes: tuple[str, ...] = field(default=())

    def smallest_quant(self) -> str:
        """The quant to offer first: Q4_K_M when listed (the usual balance), else the smallest known file."""
        if "Q4_K_M" in self.files:
            return "Q4_K_M"
        return min(self.files, key=lambda q: self.files[q].size_bytes or 1 << 62)


@dataclass(frozen=True)
class Fit:
    verdict: str  # "yes", "tight" or "no"
    reason: str


def load_catalog(path: Path = CATALOG_FILE) -> list[CatalogEntry]:
    """Every entry, checked key by key: a broken catalogue is a bug, reported in one line naming the entry."""
    try:
        document = tomllib.loads(read_utf8(path))
    except tomllib.TOMLDecodeError as e:
        raise MedtuiError(f"{path}: unreadable model catalogue ({e}): reinstall medtui") from None
    return [_entry(path, i, raw) for i, raw in enumerate(document.get("model", []))]


def _entry(path: Path, index: int, raw: dict) -> CatalogEntry:
    where = f"{path}: model {raw.get('name', index)!r}"
    if unknown := sorted(set(raw) - _KEYS):
        raise MedtuiError(f"{where}: unknown key {unknown[0]!r}")
    if missing := sorted(_KEYS - {"notes"} - set(raw)):
        raise MedtuiError(f"{where}: {missing[0]} is missing")
    check_name("model", raw["name"])
    files: dict[str, CatalogFile] = {}
    for quant, spec in raw["files"].items():
        size = spec.get("size_bytes")
        if not isinstance(spec.get("file"), str) or (size is not None and (not isinstance(size, int) or size <= 0)):
            raise MedtuiError(f"{where}: files.{quant} needs a file name and a positive size_bytes (or none)")
        if quant_of(spec["file"]) != quant.upper():
            raise MedtuiError(f"{where}: files.{quant} names {spec['file']}, whose quant is {quant_of(spec['file'])}")
        files[quant.upper()] = CatalogFile(spec["file"], size)
    if not files:
        raise MedtuiError(f"{where}: lists no files")
    shape = raw["shape"]
    if (
        not isinstance(shape, dict)
        or not set(_SHAPE) <= set(shape) <= set(_SHAPE + _SHAPE_OPTIONAL)
        or not all(isinstance(v, int) and v > 0 for v in shape.values())
    ):
        raise MedtuiError(f"{where}: shape needs positive integers {', '.join(_SHAPE)} (and optionally head_dim)")
    return CatalogEntry(
        raw["name"],
        raw["gguf_repo"],
        raw["hf_id"],
        float(raw["params_b"]),
        int(raw["context"]),
        raw["licence"],
        raw["verified"],
        files,
        Shape(**shape),
        tuple(raw.get("notes", ())),
    )


def model_info(entry: CatalogEntry, quant: str) -> ModelInfo:
    """What `memory_fit` would read from the file, from the entry (the file is not here yet)."""
    shape, size = entry.shape, entry.files[quant].size_bytes or 0
    return ModelInfo(
        name=entry.name,
        kind="gguf",
        source=entry.gguf_repo,
        architecture="",
        parameters=int(entry.params_b * 1e9),
        layers=shape.layers,
        embedding=shape.embedding,
        feed_forward=shape.feed_forward,
        heads=shape.heads,
        heads_kv=shape.heads_kv,
        head_dim=shape.head_dim or shape.embedding // shape.heads,
        vocab=shape.vocab,
        trained_ctx=entry.context,
        weights_bytes=size,
        file_bytes=size,
        quant=quant,
        chat_template=True,
        license=entry.licence,
    )


def fits(entry: CatalogEntry, quant: str, n_ctx: int, avail: Available) -> Fit:
    """Whether `quant` of `entry` fits `avail` at `n_ctx` (capped at its trained context), with as
    many layers offloaded as fit in VRAM, by the estimate the loader checks before loading."""
    if entry.files[quant].size_bytes is None:
        return Fit("?", "file size unknown")
    info = model_info(entry, quant)
    est = estimate(info, min(n_ctx, entry.context), auto_gpu_layers(info, min(n_ctx, entry.context), avail))
    offload = f", {est.n_gpu_layers} of {info.layers + 1} layers on the GPU" if est.n_gpu_layers else ""
    reason = f"needs ~{format_size(est.total_bytes)}{offload}; {avail.describe()} free"
    if not fits_memory(est, avail):
        return Fit("no", reason)
    if avail.unified or avail.vram_bytes is None:
        tight = est.total_bytes > avail.ram_bytes * TIGHT
    else:
        tight = est.ram_bytes > avail.ram_bytes * TIGHT or est.vram_bytes > avail.vram_bytes * TIGHT
    return Fit("tight" if tight else "yes", reason)

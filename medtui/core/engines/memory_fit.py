"""Will a model fit? Its memory is estimated before anything is loaded, so a model or context too
big for the machine is refused in one line with what to change, not killed by the OOM killer.

estimate = weights + KV cache at `n_ctx` + compute buffers, split between RAM and VRAM by the
layers offloaded (docs/design.md, "Fit before load", has the formulas and their measured error).
GGUF metadata is read by llama.cpp itself, loading the vocabulary only (0.1 s; gguf-py's reader
spends seconds parsing a 50k-token vocabulary, too slow for every load); an HF folder is read
from its config.json and safetensors headers. Nothing here loads a weight.
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from medtui.core.config import Settings
from medtui.core.engines.gguf_file import check_gguf, parse_file_type
from medtui.core.errors import MedtuiError
from medtui.core.formatting import format_size
from medtui.core.registry import ModelSpec, is_hub_id

CTX_STEP = 256  # n_ctx is planned in steps of llama.cpp's KV padding
FALLBACK_CTX = 4096  # auto n_ctx for a model whose files are not here to read (a Hub id not downloaded)
# Free VRAM kept back for what the estimate does not count (the CUDA context, cuBLAS workspace,
# other processes' growth): llama.cpp's --fit keeps the same margin (--fit-target, 1 GiB).
VRAM_MARGIN = 1 << 30
MIN_GPU_CTX = 4096  # auto n_ctx gives up context down to this to keep every layer in VRAM (llama.cpp's --fit-ctx)
N_BATCH = 512  # tokens per llama.cpp decode (LlamaCppEngine's default)
KV_BYTES = 2  # llama.cpp's KV cache is f16 unless told otherwise
HF_SCORING_BATCH = 8  # TransformersEngine.next_token_logprobs keeps one logits row per prompt
VOCAB_TABLE_BYTES = 256  # per vocabulary token: llama.cpp's token texts, scores, merges and piece cache (fitted)


@dataclass(frozen=True)
class ModelInfo:
    """What the files say about a model: enough to estimate its memory, and for `models info`."""

    name: str
    kind: str  # "gguf" or "hf"
    source: str
    architecture: str
    parameters: int
    layers: int
    embedding: int
    feed_forward: int
    heads: int
    heads_kv: int
    head_dim: int
    vocab: int
    trained_ctx: int
    weights_bytes: int  # as loaded: GGUF tensor data (plus a LoRA), or parameters x the HF dtype
    file_bytes: int  # on disk
    quant: str  # GGUF file type (Q4_1, F16…) or HF dtype (bfloat16…)
    chat_template: bool
    license: str | None


@dataclass(frozen=True)
class MemoryEstimate:
    n_ctx: int
    n_gpu_layers: int  # offloaded layers, the output layer counting as one (llama.cpp's count)
    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    overhead_bytes: int  # vocabulary tables and CPU attention scratch (llama.cpp only; see `estimate`)
    ram_bytes: int
    vram_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes + self.compute_bytes + self.overhead_bytes

    def describe(self) -> str:
        parts = (
            f"weights {format_size(self.weights_bytes)}, KV {format_size(self.kv_bytes)}, "
            f"compute {format_size(self.compute_bytes + self.overhead_bytes)}"
        )
        vram = f", {format_size(self.vram_bytes)} of it in VRAM" if self.vram_bytes else ""
        return f"about {format_size(self.total_bytes)} at n_ctx {self.n_ctx} ({parts}{vram})"


@dataclass(frozen=True)
class Available:
    """Memory the model may use: free RAM capped by `memory_limit`, and free VRAM (None: no GPU
    offload here). `unified`: Apple silicon, where offloaded layers stay in the same RAM."""

    ram_bytes: int
    vram_bytes: int | None
    limit_bytes: int | None
    unified: bool = False

    def describe(self) -> str:
        ram = f"{format_size(self.ram_bytes)} RAM"
        if self.limit_bytes is not None:
            ram += f" (memory_limit {format_size(self.limit_bytes)})"
        return ram + (f", {format_size(self.vram_bytes)} VRAM" if self.vram_bytes is not None else "")

    @property
    def offloads(self) -> bool:
        """Layers can go to a GPU: `available` measured free VRAM, or memory is unified. Plans read
        it here, not from the llama.cpp build, so a GPU's decisions can be tested on a CPU."""
        return self.vram_bytes is not None or self.unified


@dataclass(frozen=True)
class LoadPlan:
    """What the loader passes to the engine; `estimate` is None when the files could not be read here."""

    n_ctx: int
    n_gpu_layers: int
    estimate: MemoryEstimate | None
    available: Available


def _int(meta: dict[str, str], key: str, default: int = 0) -> int:
    """A metadata number; llama.cpp writes per-layer arrays (some archs' head counts) as text: use the default."""
    try:
        return int(meta[key])
    except (KeyError, ValueError):
        return default


def _gguf_info(spec: ModelSpec) -> ModelInfo:
    import llama_cpp
    from llama_cpp import _internals

    from medtui.core.engines.llamacpp import load_error

    path = check_gguf(spec.source)
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True  # tensor shapes and metadata, no weights
    try:
        model = _internals.LlamaModel(path_model=str(path), params=params, verbose=False)
    except (ValueError, RuntimeError) as e:
        raise load_error(path, e) from None
    try:
        meta, size, n_params, n_vocab = model.metadata(), model.size(), model.n_params(), model.n_vocab()
    finally:
        model.close()
    arch = meta.get("general.architecture", "unknown")
    embedding, heads = _int(meta, f"{arch}.embedding_length"), _int(meta, f"{arch}.attention.head_count", 1)
    adapter = Path(spec.adapter).stat().st_size if spec.adapter and Path(spec.adapter).is_file() else 0
    try:  # only `models info` shows it: a file type newer than gguf-py's must still load
        ftype = meta.get("general.file_type")
        quant = parse_file_type(int(ftype) if ftype is not None else None, path).name.removeprefix("MOSTLY_")
    except (MedtuiError, ValueError):
        quant = f"file type {ftype}"
    return ModelInfo(
        name=spec.name,
        kind="gguf",
        source=str(path),
        architecture=arch,
        parameters=n_params,
        layers=_int(meta, f"{arch}.block_count"),
        embedding=embedding,
        feed_forward=_int(meta, f"{arch}.feed_forward_length"),
        heads=heads,
        heads_kv=_int(meta, f"{arch}.attention.head_count_kv", heads),
        head_dim=_int(meta, f"{arch}.attention.key_length", embedding // max(heads, 1)),
        vocab=n_vocab,
        trained_ctx=_int(meta, f"{arch}.context_length", FALLBACK_CTX),
        weights_bytes=size + adapter,
        file_bytes=path.stat().st_size + adapter,
        quant=quant,
        chat_template="tokenizer.chat_template" in meta,
        license=meta.get("general.license"),
    )


def _hf_folder(source: str) -> Path | None:
    """The model's folder: itself, or a Hub id's snapshot in the local cache (never the network)."""
    if not is_hub_id(source):
        return Path(source)
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source, "config.json")
    return Path(found).parent if isinstance(found, str) else None


DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8}


def _safetensors_parameters(files: list[Path]) -> tuple[int, str | None]:
    """Parameters counted from the headers' shapes, and the first tensor's stored dtype."""
    from safetensors import safe_open

    parameters, stored = 0, None
    for f in files:
        with safe_open(str(f), "np") as st:
            for key in st.keys():  # noqa: SIM118 (safe_open is not a dict: it cannot be iterated)
                tensor = st.get_slice(key)
                n = 1
                for d in tensor.get_shape():
                    n *= d
                parameters += n
                stored = stored or tensor.get_dtype()
    return parameters, stored


def _hf_info(spec: ModelSpec) -> ModelInfo | None:
    """From config.json and the safetensors headers; None when they are not here or cannot be
    read, which the engine then reports in its own words."""
    from safetensors import SafetensorError

    folder = _hf_folder(spec.source)
    files = sorted(folder.glob("*.safetensors")) if folder is not None else []
    if not files:
        return None
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config = config.get("text_config", config)  # multimodal configs nest the language model's
        parameters, stored = _safetensors_parameters(files)
        dtype = str(config.get("torch_dtype") or config.get("dtype") or stored)  # what dtype="auto" loads
        heads = int(config.get("num_attention_heads") or 1)
        embedding = int(config.get("hidden_size") or 0)
        tok_config = folder / "tokenizer_config.json"
        has_template = (folder / "chat_template.jinja").is_file() or (
            tok_config.is_file() and "chat_template" in json.loads(tok_config.read_text(encoding="utf-8"))
        )
        return ModelInfo(
            name=spec.name,
            kind="hf",
            source=spec.source,
            architecture=",".join(config.get("architectures") or [config.get("model_type", "unknown")]),
            parameters=parameters,
            layers=int(config.get("num_hidden_layers") or 0),
            embedding=embedding,
            feed_forward=int(config.get("intermediate_size") or 4 * embedding),
            heads=heads,
            heads_kv=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or embedding // heads),
            vocab=int(config.get("vocab_size") or 0),
            trained_ctx=int(config.get("max_position_embeddings") or FALLBACK_CTX),
            weights_bytes=parameters * DTYPE_BYTES.get(dtype, 4),
            file_bytes=sum(f.stat().st_size for f in files),
            quant=dtype,
            chat_template=has_template,
            license=_readme_license(folder / "README.md"),
        )
    except (OSError, ValueError, TypeError, AttributeError, SafetensorError):
        return None


def _readme_license(readme: Path) -> str | None:
    """`license:` from a model card's YAML front matter."""
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    for line in text.split("---", 2)[1].splitlines():
        if line.startswith("license:"):
            return line.split(":", 1)[1].strip() or None
    return None


def model_info(spec: ModelSpec) -> ModelInfo | None:
    """The model's shape from its files; None for an HF model whose files are not here."""
    if spec.kind == "gguf":
        return _gguf_info(spec)
    return _hf_info(spec)


def estimate(info: ModelInfo, n_ctx: int, n_gpu_layers: int = 0, n_batch: int = N_BATCH) -> MemoryEstimate:
    """Memory to load `info` with an `n_ctx` context and `n_gpu_layers` layers offloaded.

    KV = 2 (K and V) x layers x n_ctx x heads_kv x head_dim x 2 bytes (f16), as llama.cpp and
    transformers' cache store it. Compute, for llama.cpp without flash attention, fitted to the
    buffer sizes it reports: 4 bytes x n_ubatch x (max(n_vocab, n_ctx x (heads + 1)) + 3 x
    embedding + feed_forward): the batch's logits or its attention scores and mask, whichever is
    larger, plus the activations beside them. For transformers: the widest activations at n_ctx
    (4 bytes x n_ctx x (2 x embedding + 2 x feed_forward)) and a scoring batch's logits.
    Overhead, beyond the buffers llama.cpp reports: 256 bytes per vocabulary token (its
    vocabulary tables: 10-13 MiB measured for SmolLM2's 49k tokens), and the CPU backend's
    scratch for attention, the scores converted to f16 for their product with V: 2 bytes x
    n_ubatch x n_ctx x heads (128 MiB for 32 heads at n_ctx 4096, measured as peak RSS).
    """
    if info.kind == "gguf":
        n_ctx = -(-n_ctx // CTX_STEP) * CTX_STEP  # llama.cpp pads its cache
    else:
        n_ctx = min(n_ctx, info.trained_ctx)  # as TransformersEngine caps it
    kv = 2 * info.layers * n_ctx * info.heads_kv * info.head_dim * KV_BYTES
    overhead = 0
    if info.kind == "gguf":
        ubatch = min(n_batch, n_ctx)
        compute = 4 * ubatch * (max(info.vocab, n_ctx * (info.heads + 1)) + 3 * info.embedding + info.feed_forward)
        overhead = VOCAB_TABLE_BYTES * info.vocab + 2 * ubatch * n_ctx * info.heads  # tables + attention scratch
    else:
        compute = 4 * n_ctx * (2 * info.embedding + 2 * info.feed_forward) + 4 * HF_SCORING_BATCH * info.vocab
    units = info.layers + 1  # llama.cpp offloads the repeating layers, then the output layer
    offloaded = max(0, min(n_gpu_layers, units)) if info.kind == "gguf" else 0
    vram = 0
    if offloaded:
        kv_share = kv * min(offloaded, info.layers) // max(info.layers, 1)
        vram = info.weights_bytes * offloaded // units + kv_share + compute
    total = info.weights_bytes + kv + compute + overhead
    return MemoryEstimate(n_ctx, offloaded, info.weights_bytes, kv, compute, overhead, total - vram, vram)


def available(limit_bytes: int | None = None) -> Available:
    """Free RAM now (MemAvailable: what can be had without swapping) capped by `limit_bytes`, and
    free VRAM less VRAM_MARGIN when this llama.cpp build offloads to a CUDA GPU. VRAM that torch
    cannot measure (a CPU torch beside a CUDA llama.cpp) stays None: the plan offloads nothing."""
    import psutil

    ram = psutil.virtual_memory().available
    if limit_bytes is not None:
        ram = min(ram, limit_bytes)
    vram, unified = None, False
    if gpu_offload_supported():
        if sys.platform == "darwin":
            unified = True  # Metal: offloaded layers live in the same memory; counted as RAM
        else:
            import torch

            if torch.cuda.is_available():
                vram = max(0, torch.cuda.mem_get_info()[0] - VRAM_MARGIN)
    return Available(ram, vram, limit_bytes, unified)


def gpu_offload_supported() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def fits(est: MemoryEstimate, avail: Available) -> bool:
    if avail.unified or avail.vram_bytes is None:
        return est.total_bytes <= avail.ram_bytes
    return est.ram_bytes <= avail.ram_bytes and est.vram_bytes <= avail.vram_bytes


def auto_gpu_layers(info: ModelInfo, n_ctx: int, avail: Available) -> int:
    """The most layers whose weights, KV and compute fit in free VRAM: none where `avail` has no
    GPU, all of them on Apple silicon's unified memory."""
    if info.kind != "gguf" or not avail.offloads:
        return 0
    units = info.layers + 1
    if avail.unified:
        return units
    best = 0
    for n in range(1, units + 1):
        if estimate(info, n_ctx, n).vram_bytes > avail.vram_bytes:
            break
        best = n
    return best


def fit_context(info: ModelInfo, avail: Available, n_gpu_layers: int | None = None) -> int:
    """The largest n_ctx (a multiple of 256, at most the trained context) that fits; 0 when even
    256 does not. `n_gpu_layers` None: as many as fit at each size."""
    low, high = 0, info.trained_ctx // CTX_STEP  # in steps; the estimate grows with n_ctx, so bisect
    while low < high:
        mid = (low + high + 1) // 2
        n_ctx = mid * CTX_STEP
        layers = auto_gpu_layers(info, n_ctx, avail) if n_gpu_layers is None else n_gpu_layers
        if fits(estimate(info, n_ctx, layers), avail):
            low = mid
        else:
            high = mid - 1
    return low * CTX_STEP


def check_fit(info: ModelInfo, est: MemoryEstimate, avail: Available, layers_setting: int = -1) -> None:
    """Refuse, in one line that says what to change, a load that would not fit. The context is
    named as the user sets it (--n-ctx, MEDTUI_N_CTX or n_ctx in config.toml); a smaller quant is
    suggested only where the weights, not the KV cache, are most of the memory."""
    if fits(est, avail):
        return
    where = avail.describe()
    if avail.vram_bytes is not None and est.vram_bytes > avail.vram_bytes and layers_setting != -1:
        fix = f"set n_gpu_layers = {auto_gpu_layers(info, est.n_ctx, avail)} (what fits) or -1 (auto)"
    else:
        most = fit_context(info, avail, est.n_gpu_layers if layers_setting != -1 else None)
        quant = " or use a smaller quant" if est.weights_bytes >= est.kv_bytes else ""
        if not most:
            fix = "use a smaller quant or a smaller model (the weights alone do not fit)"
        elif info.trained_ctx and est.n_ctx > info.trained_ctx:
            fix = (
                f"that n_ctx is above the {info.trained_ctx} tokens it was trained on: set n_ctx "
                f"to {most} or less{' (the most that fits)' if most < info.trained_ctx else ''}, or 0 (auto){quant}"
            )
        else:
            fix = f"set n_ctx = {most} (the most that fits) or 0 (auto){quant}"
        fix += " (--n-ctx, MEDTUI_N_CTX or n_ctx in config.toml)"
    raise MedtuiError(f"model {info.name} needs {est.describe()} but only {where} is available: {fix}")


def auto_context(info: ModelInfo, avail: Available, n_gpu_layers: int | None = None) -> int:
    """The trained context capped by what fits (0: not even 256). With auto layers on a GPU, the
    context shrinks, down to MIN_GPU_CTX, before any layer is left on the CPU, as llama.cpp's
    --fit does: a model split with the CPU runs at the CPU's pace, and a 128k context's KV cache
    would otherwise push a small model off an 8 GB GPU altogether."""
    most = fit_context(info, avail, n_gpu_layers)
    if n_gpu_layers is not None or info.kind != "gguf" or avail.vram_bytes is None or avail.unified:
        return most
    on_gpu = fit_context(info, avail, info.layers + 1)
    return max(on_gpu, min(most, MIN_GPU_CTX))


def plan(info: ModelInfo, settings: Settings, avail: Available) -> LoadPlan:
    """n_ctx and GPU layers for loading `info` under `settings`, and their estimate (not checked).

    `n_ctx = 0`: `auto_context`; `n_gpu_layers = -1` offloads what fits in VRAM, and a fixed
    count is used as set where `avail` offloads at all (nothing on a CPU build)."""
    fixed = None if settings.n_gpu_layers == -1 else settings.n_gpu_layers if avail.offloads else 0
    n_ctx = settings.n_ctx or auto_context(info, avail, fixed) or CTX_STEP  # 256: check_fit says what fails
    layers = auto_gpu_layers(info, n_ctx, avail) if fixed is None else fixed
    return LoadPlan(n_ctx, layers, estimate(info, n_ctx, layers), avail)


def plan_load(spec: ModelSpec, settings: Settings) -> LoadPlan:
    """`plan` for `spec`, refusing what will not fit. A model whose files are not here (a Hub id
    not yet downloaded) is not checked."""
    avail = available(settings.memory_limit_bytes)
    info = model_info(spec)
    if info is None:
        return LoadPlan(settings.n_ctx or FALLBACK_CTX, 0, None, avail)
    planned = plan(info, settings, avail)
    check_fit(info, planned.estimate, avail, settings.n_gpu_layers)
    return planned

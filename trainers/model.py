"""The base model a run trains on, what LoRA attaches to, and how a LoRA is merged back.

The model argument is resolved by the core (`medtui.core.registry.resolve_base`). An adapter
needs a real Hugging Face base to load on later (chat, evals, export), so a base given as a GGUF
file is dequantized once by transformers (`gguf_file=`) and kept as an HF folder under
`<data dir>/bases/`; a registry name, an HF folder or a Hub id is used as it is. Merging
(`merge_lora`) is the one implementation MSFT and export share. Weights load from safetensors
only and never with `trust_remote_code`.
"""

import copy
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from medtui.core import hub, paths
from medtui.core.engines.dequantize import load_dequantized
from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_dir
from medtui.core.registry import is_hub_id, resolve_base
from trainers.runs import OnPhase, PhaseName

# LoRA on the input embeddings. The output layer (lm_head) cannot carry a LoRA: TRL computes the
# loss from `lm_head.weight` directly, so one would never train (it refuses it). It is trained as
# a full copy instead (peft `modules_to_save`), whose `.weight` is what TRL reads; for a model
# that ties lm_head to embed_tokens (SmolLM2) the copy unties the output side in the adapter.
EMBEDDING_MODULES = ("embed_tokens",)


@dataclass(frozen=True)
class BaseModel:
    source: str  # a local HF folder or a Hub id: what `base` in run.json names
    gguf: Path | None = None  # the GGUF the folder was made from, if any


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_model(model: str) -> BaseModel:
    """What a run trains on: the core resolver's answer, refused when it carries an adapter."""
    spec = resolve_base(model)
    return BaseModel(spec.source, Path(spec.source) if spec.kind == "gguf" else None)


def _cache_name(gguf: Path) -> str:
    stat = gguf.stat()
    digest = hashlib.sha1(f"{gguf}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    return f"{gguf.stem}-{digest}"


def materialized(base: BaseModel) -> Path | None:
    """Where a GGUF base's HF folder is (or will be); None for a base that needs none."""
    return None if base.gguf is None else paths.data_dir() / "bases" / _cache_name(base.gguf)


def materialize(base: BaseModel, log=print, on_phase: OnPhase | None = None) -> str:
    """The HF folder or Hub id to train on: a GGUF is dequantized to an HF folder once, written
    by rename (`atomic_dir`), so a half-written base is never used. `on_phase` hears of its two
    parts (reading the GGUF, saving the folder), which take tens of seconds on a 135M model."""
    target = materialized(base)
    if target is None:
        return base.source
    if (target / "config.json").exists():
        return str(target)
    phase = on_phase or (lambda name, done, total: None)
    log(f"dequantizing {base.gguf.name} into an HF folder at {target} (once)")
    phase(PhaseName.DEQUANTIZING, 0, 2)
    model, tokenizer = load_dequantized(base.gguf)
    phase(PhaseName.DEQUANTIZING, 1, 2)
    with atomic_dir(target) as partial:
        model.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
    phase(PhaseName.DEQUANTIZING, 2, 2)
    return str(target)


def compute_dtype():
    """bf16 where the GPU has it; fp32 on CPU, where bf16 matmuls are slow and fp16 unstable."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    hub.check_source(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise _load_error(source, e) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_error(source: str, error: Exception) -> MedtuiError:
    fix = f"download it on a connected machine (`hf download {source}`) and pass the folder"
    if unreachable := hub.check_source(source):
        return hub.unreachable_error(unreachable, source, fix)
    if is_hub_id(source):
        return MedtuiError(f"cannot load {source} from the Hugging Face Hub ({type(error).__name__}): {fix}")
    return MedtuiError(f"{source}: missing or corrupt model files ({type(error).__name__}: {error})")


def load_base(source: str, quant: str):
    """The frozen base for the plain transformers backend: 4-bit NF4 (QLoRA) or 16/32-bit."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict = {"dtype": compute_dtype(), "use_safetensors": True, "trust_remote_code": False}
    if quant == "4bit":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype(),
        )
        kwargs["device_map"] = {"": 0 if torch.cuda.is_available() else "cpu"}
    hub.check_source(source)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as e:
        raise _load_error(source, e) from None
    if quant == "4bit":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model


def lora_targets(model, configured: tuple[str, ...], train_embeddings: bool) -> list[str]:
    """Every linear layer inside the blocks (by leaf name), unless configured; plus the
    embeddings when they are trained too."""
    import torch

    if configured:
        targets = list(configured)
    else:
        targets = sorted(
            {
                name.rsplit(".", 1)[-1]
                for name, module in model.named_modules()
                if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head")
            }
        )
    if train_embeddings:
        targets += [m for m in EMBEDDING_MODULES if m not in targets]
    return targets


def output_layer(model) -> str:
    """The leaf name of the layer that maps hidden states to logits (lm_head in most models)."""
    head = model.get_output_embeddings()
    return next(name.rsplit(".", 1)[-1] for name, module in model.named_modules() if module is head)


def merge_dtype(base: str):
    """The one dtype rule for merging a LoRA, in training (MSFT) and export alike: the base
    checkpoint's own 16-bit dtype (float16 or bfloat16 in its config.json), so the merged model
    is stored as the base was; else float32 (GGUF bases, float32 checkpoints, Hub ids). Never
    the 4-bit training base: rounding the merged weights to NF4 would lose the update."""
    import torch

    config = Path(base) / "config.json"
    if config.is_file():
        stored = json.loads(config.read_text(encoding="utf-8"))
        name = stored.get("dtype") or stored.get("torch_dtype") or ""
        if name in ("float16", "bfloat16"):
            return getattr(torch, name)
    return torch.float32


@lru_cache(maxsize=1)
def _dequantized(path: str, mtime: float) -> tuple[object, object]:
    """Parsing a GGUF takes tens of seconds, so one export after another on the same base
    (tests, the benchmark, the TUI) pays for it once."""
    return load_dequantized(Path(path))


def load_full_base(base: str) -> tuple[object, object]:
    """The base (HF folder, Hub id or .gguf file) at `merge_dtype`, and its tokenizer; a GGUF is
    dequantized, and a fresh copy handed out each time since merging changes the model in place."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        if base.endswith(".gguf"):
            model, tokenizer = _dequantized(base, Path(base).stat().st_mtime)
            return copy.deepcopy(model), tokenizer
        hub.check_source(base)
        model = AutoModelForCausalLM.from_pretrained(
            base, dtype=merge_dtype(base), use_safetensors=True, trust_remote_code=False
        )
        return model, AutoTokenizer.from_pretrained(base, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise _load_error(base, e) from None


def merge_lora(base: str, adapter: Path | None) -> tuple[object, object]:
    """The base with the LoRA folded in (the base alone without one), in eval mode, and the
    tokenizer to use: the adapter's own when it ships one, since it was trained with it."""
    from transformers import AutoTokenizer

    model, tokenizer = load_full_base(base)
    if adapter is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        except (OSError, ValueError, RuntimeError) as e:
            raise MedtuiError(f"adapter {adapter} does not fit base {base}: {e}") from None
        if any((adapter / f).is_file() for f in ("tokenizer.json", "tokenizer.model")):
            tokenizer = AutoTokenizer.from_pretrained(str(adapter), trust_remote_code=False)
    return model.eval(), tokenizer


def merge_adapter(base: str, adapter: Path, out: Path) -> None:
    """Fold a LoRA into its base (`merge_lora`) and save the result as an HF folder, by rename."""
    model, tokenizer = merge_lora(base, adapter)
    with atomic_dir(out) as partial:
        model.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)

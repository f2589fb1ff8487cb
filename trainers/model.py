"""The base model a run trains on, and what LoRA attaches to.

An adapter needs a real Hugging Face base to load on later (chat, evals, export), so a base
given as a GGUF file is dequantized once by transformers (`gguf_file=`) and kept as an HF
folder under `<data dir>/bases/`; a registry name, an HF folder or a Hub id is used as it is.
Weights load from safetensors only and never with `trust_remote_code`.
"""

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from medtui.core import paths
from medtui.core.engines.dequantize import load_dequantized
from medtui.core.errors import MedtuiError
from medtui.core.registry import Registry, is_hub_id

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
    """A registry name, .gguf file, HF folder or Hub id -> what to load; one-line error otherwise."""
    names = {s.name: s for s in Registry().all()}
    if model in names:
        spec = names[model]
        if spec.adapter:
            raise MedtuiError(
                f"model {model!r} carries a LoRA adapter: train on its base ({spec.source}), or merge it first"
            )
        model = spec.source
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise MedtuiError(f"{model}: GGUF file not found")
        return BaseModel(str(path.resolve()), path.resolve())
    if path.is_dir():
        if not (path / "config.json").exists():
            raise MedtuiError(f"{model}: no config.json here: point at a Hugging Face model folder")
        return BaseModel(str(path.resolve()))
    if is_hub_id(model):
        return BaseModel(model)
    raise MedtuiError(
        f"unknown model {model!r}: give a name from `medtui models list`, a .gguf file, a model folder or a Hub id"
    )


def _cache_name(gguf: Path) -> str:
    stat = gguf.stat()
    digest = hashlib.sha1(f"{gguf}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    return f"{gguf.stem}-{digest}"


def materialize(base: BaseModel, log=print) -> str:
    """The HF folder or Hub id to train on: a GGUF is dequantized to an HF folder once, written
    to a temporary folder and renamed, so a half-written base is never used."""
    if base.gguf is None:
        return base.source
    target = paths.data_dir() / "bases" / _cache_name(base.gguf)
    if (target / "config.json").exists():
        return str(target)
    log(f"dequantizing {base.gguf.name} into an HF folder at {target} (once)")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model, tokenizer = load_dequantized(base.gguf)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return str(target)


def compute_dtype():
    """bf16 where the GPU has it; fp32 on CPU, where bf16 matmuls are slow and fp16 unstable."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise _load_error(source, e) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_error(source: str, error: Exception) -> MedtuiError:
    if is_hub_id(source):
        return MedtuiError(
            f"cannot load {source} from the Hugging Face Hub ({type(error).__name__}): download it on a "
            f"connected machine (`hf download {source}`) and pass the folder"
        )
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


def merge_adapter(base: str, adapter: Path, out: Path) -> None:
    """Fold a LoRA into its base at 16-bit (fp32 on CPU) and save the result as an HF folder.
    Never into a 4-bit base: rounding the merged weights to NF4 would lose the update."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(
        base, dtype=compute_dtype(), use_safetensors=True, trust_remote_code=False
    )
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(tmp, safe_serialization=True)
    load_tokenizer(base).save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)

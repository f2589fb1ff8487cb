"""Merge a LoRA adapter into a full-precision base and save a Hugging Face folder for the converter.

The base is always loaded in 16 or 32 bits, never 4-bit: merging into quantized weights would
bake the quantization error of the training setup into the export. A GGUF base (the packaged
SmolLM2) is dequantized through transformers' `gguf_file=`, which gives exactly the weights
llama.cpp reads from that file.
"""

import copy
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from export.sources import ExportSource
from medtui.core.engines.dequantize import load_dequantized
from medtui.core.errors import MedtuiError
from medtui.core.registry import is_hub_id


@dataclass
class Merged:
    model: object  # transformers PreTrainedModel, merged, in eval mode
    tokenizer: object


def _dtype(base: str):
    """The base's own 16-bit dtype when it has one, else float32 (GGUF bases, float32 checkpoints)."""
    import json

    import torch

    config = Path(base) / "config.json"
    if config.is_file():
        stored = json.loads(config.read_text(encoding="utf-8")).get("torch_dtype") or ""
        if stored in ("float16", "bfloat16"):
            return getattr(torch, stored)
    return torch.float32


@lru_cache(maxsize=1)
def _dequantized(path: str, mtime: float) -> tuple[object, object]:
    """Parsing a GGUF takes tens of seconds, so one export after another on the same base
    (tests, the benchmark, the TUI) pays for it once."""
    return load_dequantized(Path(path))


def load_base(source: ExportSource) -> tuple[object, object]:
    """The base model (16 or 32 bits, never 4) and its tokenizer; a GGUF base is dequantized."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = source.base
    try:
        if source.base_is_gguf:
            model, tokenizer = _dequantized(base, Path(base).stat().st_mtime)
            return copy.deepcopy(model), tokenizer  # merging changes the model in place
        model = AutoModelForCausalLM.from_pretrained(
            base, dtype=_dtype(base), use_safetensors=True, trust_remote_code=False
        )
        return model, AutoTokenizer.from_pretrained(base, trust_remote_code=False)
    except (OSError, ValueError) as e:
        if is_hub_id(base):
            raise MedtuiError(
                f"cannot load base {base} from the Hugging Face Hub (offline?): download it (`hf download {base}`) and pass --base FOLDER"
            ) from None
        raise MedtuiError(f"base model {base}: missing or corrupt files ({type(e).__name__}: {e})") from None


def load_merged(source: ExportSource) -> Merged:
    """The base with the adapter merged in (or the base alone), and its tokenizer."""
    from transformers import AutoTokenizer

    base = source.base
    model, tokenizer = load_base(source)
    if source.adapter is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, str(source.adapter)).merge_and_unload()
        except (OSError, ValueError, RuntimeError) as e:
            raise MedtuiError(f"adapter {source.adapter} does not fit base {base}: {e}") from None
        if any((source.adapter / f).is_file() for f in ("tokenizer.json", "tokenizer.model")):
            tokenizer = AutoTokenizer.from_pretrained(
                str(source.adapter), trust_remote_code=False
            )  # trained with these
    return Merged(model.eval(), tokenizer)


def save_merged(merged: Merged, folder: Path) -> None:
    """Safetensors weights, config and the tokenizer with its chat template, as the converter reads them."""
    merged.model.save_pretrained(folder, safe_serialization=True)
    merged.tokenizer.save_pretrained(folder)
    if not merged.tokenizer.chat_template:
        raise MedtuiError(
            f"{folder}: the tokenizer has no chat template, so the chat could not prompt the export: add one to the base"
        )


def count_params(merged: Merged) -> int:
    return sum(p.numel() for p in merged.model.parameters())

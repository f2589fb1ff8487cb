"""The merged model an export converts and verifies against, saved as the converter reads it.

Loading and merging are training's (`trainers.model.merge_lora`, one dtype rule for both): the
base in its own 16-bit dtype or float32, never 4-bit, so the export does not bake the training
setup's quantization error in. A GGUF base (the packaged SmolLM2) is dequantized through
transformers' `gguf_file=`, which gives exactly the weights llama.cpp reads from that file.
"""

from dataclasses import dataclass
from pathlib import Path

from export.sources import ExportSource
from medtui.core.errors import MedtuiError
from trainers.model import load_full_base, merge_lora


@dataclass
class Merged:
    model: object  # transformers PreTrainedModel, merged, in eval mode
    tokenizer: object


def load_base(source: ExportSource) -> tuple[object, object]:
    """The export's base model (never 4-bit) and its tokenizer, without the adapter."""
    return load_full_base(source.base)


def load_merged(source: ExportSource) -> Merged:
    """The base with the adapter merged in (or the base alone), and its tokenizer."""
    return Merged(*merge_lora(source.base, source.adapter))


def save_merged(merged: Merged, folder: Path) -> None:
    """Safetensors weights, config and the tokenizer with its chat template, as the converter reads them."""
    merged.model.save_pretrained(folder, safe_serialization=True)
    merged.tokenizer.save_pretrained(folder)
    if not merged.tokenizer.chat_template:
        raise MedtuiError(
            f"{folder}: the tokenizer has no chat template, so the chat could not prompt the export: "
            "add one to the base"
        )


def count_params(merged: Merged) -> int:
    return sum(p.numel() for p in merged.model.parameters())

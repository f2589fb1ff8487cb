"""A GGUF file as a plain float32 transformers model: how training and export get an HF base
for a model that ships only as GGUF (the packaged SmolLM2).

transformers dequantizes the tensors (`gguf_file=`), giving exactly the weights llama.cpp reads,
but still marks the model GGUF-quantized: that refuses `save_pretrained` and would make every
later load expect a GGUF. The marks are cleared here, once, for every caller.
"""

from pathlib import Path

from medtui.core.errors import MedtuiError


def load_dequantized(gguf: Path) -> tuple[object, object]:
    """(model, tokenizer) from a GGUF file, float32, saveable as an HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.float32, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError) as e:
        raise MedtuiError(
            f"{gguf}: transformers cannot load this GGUF ({type(e).__name__}: {e}): use an HF folder or Hub id"
        ) from None
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = model.config.architectures or [type(model).__name__]  # the converter dispatches on it
    return model, tokenizer

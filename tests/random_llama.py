"""Random-weight Llamas with the embedded model's real tokenizer and chat template.

The tests' tiny model and the benches' big one (bench/memory_fit.py, bench/chaos_train.py) are
the same thing at two shapes: the weights are noise, the tokenizer, template and shape are real.
"""

from pathlib import Path

TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}


def random_llama(folder: Path, shape: dict | None = None, float16: bool = False) -> Path:
    """Write a random Llama of `shape` (TINY by default) to `folder` as safetensors; return the folder.

    `float16`: built on the meta device and filled with cheap uniform noise, for models too big to
    initialise the usual way in reasonable time (their values matter to no one).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from medtui.core.assets import asset_path

    gguf = asset_path("smollm2_gguf")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **(shape or TINY),
    )
    torch.manual_seed(0)
    if float16:
        with torch.device("meta"):
            model = LlamaForCausalLM(config)
        model = model.to_empty(device="cpu").to(torch.float16)
        for p in model.parameters():
            p.data.uniform_(-0.02, 0.02)
    else:
        model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder

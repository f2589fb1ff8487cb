"""Two ways to get a LoRA-wrapped model from the same config.

`unsloth` is the fast path on a CUDA GPU (its fused kernels; LoRA dropout 0, which its fast
path needs); `hf` is plain transformers + peft and runs anywhere. Both hand the same peft
model to TRL's SFTTrainer, so everything after loading is shared. unsloth is imported only
when CUDA is present: it patches transformers on import and refuses to load without a GPU.
"""

import importlib.util
import os

from medtui.core.errors import MedtuiError
from trainers.config import TrainConfig
from trainers.model import EMBEDDING_MODULES, compute_dtype, cuda_available, load_base, lora_targets, output_layer


def resolve_quant(config: TrainConfig) -> str:
    """auto: QLoRA (4-bit NF4) on CUDA, else full precision. bitsandbytes' CPU backend does
    train a 4-bit base, but dequantizes every weight on each matmul, so on CPU it only saves
    memory (and costs time): allowed when asked for, never the default."""
    if config.quant == "auto":
        return "4bit" if cuda_available() else "none"
    return config.quant


def resolve_backend(config: TrainConfig) -> str:
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if config.backend == "auto":
        return "unsloth" if cuda_available() and has_unsloth else "hf"
    if config.backend == "unsloth":
        if not cuda_available():
            raise MedtuiError("--backend unsloth needs a CUDA GPU and none was found: use --backend hf")
        if not has_unsloth:
            raise MedtuiError("--backend unsloth: unsloth is not installed: `pip install unsloth` (or `.[gpu]`)")
    return config.backend


def load_hf(config: TrainConfig, base: str, quant: str):
    """transformers + peft: the base (4-bit NF4 or not) with a fresh LoRA on every linear layer."""
    from peft import LoraConfig, get_peft_model

    model = load_base(base, quant)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        bias="none",
        task_type="CAUSAL_LM",
        target_modules=lora_targets(model, config.target_modules, config.train_embeddings),
        modules_to_save=[output_layer(model)] if config.train_embeddings else None,
    )
    return get_peft_model(model, lora)


def load_unsloth(config: TrainConfig, base: str, quant: str):
    """unsloth's FastLanguageModel: same LoRA settings except dropout 0 (its fast path).
    `use_exact_model_name`: else unsloth swaps a Hub id for its own mirror (a dynamic 4-bit
    quant, another download), not the base the adapter records. Embeddings: unsloth never trains
    a LoRA on embed_tokens (its fused loss bypasses it) and moves it to a full trained copy, so
    that is asked for here; with tied embeddings it ties lm_head to that copy. Its tokenizer is
    dropped: its pad fix reuses a token already in the vocabulary (or raises), and the Trainer
    aligns the model's pad id with our tokenizer's."""
    from unsloth import FastLanguageModel

    model, _ = FastLanguageModel.from_pretrained(
        model_name=base,
        max_seq_length=config.max_seq_len,
        dtype=compute_dtype(),
        load_in_4bit=quant == "4bit",
        device_map={"": int(os.environ.get("LOCAL_RANK", "0"))},
        trust_remote_code=False,
        use_exact_model_name=True,
    )
    return FastLanguageModel.get_peft_model(
        model,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=0,
        bias="none",
        target_modules=lora_targets(model, config.target_modules, train_embeddings=False),
        use_gradient_checkpointing="unsloth" if config.gradient_checkpointing else False,
        random_state=config.seed,
        modules_to_save=[*EMBEDDING_MODULES, output_layer(model)] if config.train_embeddings else None,
    )


def load_model(config: TrainConfig, base: str):
    """(peft model, backend name, quant) for this config on this machine."""
    backend, quant = resolve_backend(config), resolve_quant(config)
    model = (load_unsloth if backend == "unsloth" else load_hf)(config, base, quant)
    return model, backend, quant


def optimizer_for(model, config: TrainConfig):
    """AdamW with the embedding LoRA and the trained output layer at their own (lower) rate,
    as continual pretraining needs; None lets the Trainer build its default otherwise."""
    if not config.train_embeddings:
        return None
    import torch

    vocabulary = (*EMBEDDING_MODULES, output_layer(model))
    embedding, rest = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (embedding if any(f".{m}." in name for m in vocabulary) else rest).append(param)
    return torch.optim.AdamW(
        [{"params": rest, "lr": config.lr}, {"params": embedding, "lr": config.embedding_lr}],
        lr=config.lr,
        weight_decay=0.0,
    )

"""A real SFT run on SmolLM2-135M-Instruct from its packaged GGUF, on CPU: the trainer
dequantizes the GGUF into an HF base once, the loss goes down on the HuatuoGPT-o1 rows, and the
registered adapter loads through the chat engine and changes what the model says."""

import json
import threading
from pathlib import Path

import pytest

from medtui.core.engines.base import GenerationParams
from medtui.core.engines.transformers_engine import TransformersEngine
from medtui.core.registry import ModelSpec, Registry
from trainers.config import TrainConfig
from trainers.pipeline import execute
from trainers.runs import create_run, read_progress

PROMPT = "What is the first-line treatment of anaphylaxis?"


@pytest.fixture(autouse=True)
def _threads():
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def short_rows(shared_data, tmp_path_factory) -> Path:
    """Five HuatuoGPT-o1 demo rows cut to about 100 tokens each: SmolLM2's 49K-vocab logits
    stay small enough for six steps on two cores."""
    lines = (shared_data / "huatuogpt_o1_demo" / "demo_data.jsonl").read_text(encoding="utf-8").splitlines()
    out = tmp_path_factory.mktemp("sft-smollm2") / "short.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for r in map(json.loads, lines[:5]):
            f.write(
                json.dumps(
                    {
                        "Question": r["Question"][:160],
                        "Complex_CoT": r["Complex_CoT"][:120],
                        "Response": r["Response"][:80],
                    }
                )
                + "\n"
            )
    return out


def _greedy(spec: ModelSpec) -> str:
    engine = TransformersEngine(spec, n_ctx=512)
    try:
        prompt = engine.render_chat([{"role": "user", "content": PROMPT}])
        return "".join(engine.stream(prompt, GenerationParams(max_tokens=16, temperature=0.0), threading.Event()))
    finally:
        engine.close()


def test_smollm2_sft_loss_goes_down_and_adapter_changes_output(smollm2_gguf, short_rows):
    # Two epochs over five rows: the second pass sees the same rows, so its loss must be lower.
    config = TrainConfig(
        method="sft",
        model=str(smollm2_gguf),
        data=str(short_rows),
        name="smollm2-sft",
        max_seq_len=256,
        epochs=2,
        batch_size=1,
        grad_accum=1,
        lr=2e-3,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        warmup_ratio=0.0,
        scheduler="constant",
        eval_fraction=0.0,
        save_steps=1000,
    )
    run = execute(create_run(config), threading.Event(), log=lambda m: None)
    assert run.status == "complete" and run.info.used_backend == "hf" and run.info.used_quant == "none"

    base = Path(run.base)
    assert base.parent.name == "bases" and (base / "model.safetensors").exists()  # dequantized from the GGUF once
    losses = [loss for _, loss in read_progress(run.dir).train]
    assert len(losses) == run.info.global_step >= 6  # ~100-token rows pack two to a sequence: 3 steps an epoch
    half = len(losses) // 2
    first, last = sum(losses[:half]) / half, sum(losses[half:]) / (len(losses) - half)
    assert last < 0.8 * first, losses

    spec = Registry().get("smollm2-sft")
    assert spec.kind == "hf" and spec.source == str(base) and spec.adapter == str(run.adapter)
    tuned = _greedy(spec)
    plain = _greedy(ModelSpec(name="smollm2-base", kind="hf", source=str(base)))
    assert tuned and plain and tuned != plain, (tuned, plain)

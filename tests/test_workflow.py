"""The whole adapt-and-ship loop as a user runs it, across features: train an SFT adapter,
export it merged to a verified GGUF, then ask the exported model a question."""

import json

from medtui.core.registry import Registry
from tests.test_cli import run


def test_train_then_export_then_ask(tiny_hf_model, tmp_path):
    data = tmp_path / "sft.jsonl"
    rows = [
        {
            "question": f"Which vitamin prevents {d}?",
            "reasoning": f"{d} comes from a lack of vitamin {v}.",
            "answer": f"Vitamin {v}.",
        }
        for d, v in [("scurvy", "C"), ("rickets", "D"), ("beriberi", "B1")] * 4
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    trained = run(
        "train",
        "sft",
        "-m",
        str(tiny_hf_model),
        "-d",
        str(data),
        "--name",
        "vitamins",
        "--max-steps",
        "3",
        "--batch-size",
        "2",
        "--grad-accum",
        "1",
        "--max-seq-len",
        "256",
    )
    assert trained.returncode == 0, trained.stderr.decode()
    assert Registry().get("vitamins").adapter.endswith("runs/vitamins/adapter")

    exported = run("export", "vitamins", "--quant", "f16")
    assert exported.returncode == 0, exported.stderr.decode()
    assert "vitamins-f16" in exported.stdout.decode()
    spec = Registry().get("vitamins-f16")
    assert (
        spec.kind == "gguf" and spec.source.endswith("gguf/vitamins-f16/vitamins-f16.f16.gguf") and spec.adapter is None
    )
    verification = json.loads((tmp_path / "data" / "gguf" / "vitamins-f16" / "verification.json").read_text())
    assert verification["passed"] and verification["top1"] >= verification["thresholds"]["top1"]
    assert verification["adapter"].endswith("runs/vitamins/adapter")

    answered = run(
        "ask",
        "Which vitamin prevents scurvy?",
        "--model",
        "vitamins-f16",
        "--no-rag",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
    )
    assert answered.returncode == 0, answered.stderr.decode()
    assert answered.stdout.decode().strip()

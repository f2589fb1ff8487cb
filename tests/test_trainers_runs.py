"""Trainer options and run paths on the tiny random Llama: QLoRA (bitsandbytes NF4) on CPU, the
vocabulary (embeddings + lm_head) at its own learning rate, a detached run watched with
`medtui train status`, a cancelled run resumed from the CLI, and an index as a CPT corpus."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.test_trainers import _threads, write_short_huatuo  # noqa: F401  (_threads: autouse fixture)
from trainers.config import TrainConfig
from trainers.pipeline import execute
from trainers.runs import create_run, load_run, read_progress

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def short_sft(shared_data, tmp_path_factory) -> Path:
    return write_short_huatuo(shared_data, tmp_path_factory.mktemp("sft-runs") / "short.jsonl", 12, 200, 200, 100)


def _medtui(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "medtui", "train", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_qlora_step_runs_on_cpu(tiny_hf_model, short_sft):
    """bitsandbytes' CPU backend: the base loads as NF4 Linear4bit layers and a LoRA trains on it."""
    from bitsandbytes.nn import Linear4bit

    from trainers.backends import load_model

    config = TrainConfig(
        method="sft",
        model=str(tiny_hf_model),
        data=str(short_sft),
        name="qlora-cpu",
        quant="4bit",
        max_seq_len=512,
        max_steps=2,
        batch_size=1,
        grad_accum=1,
        lr=1e-3,
        eval_fraction=0.0,
        limit=4,
    )
    model, backend, quant = load_model(config, str(tiny_hf_model))
    frozen = [m for m in model.modules() if isinstance(m, Linear4bit)]
    assert (
        backend == "hf"
        and quant == "4bit"
        and frozen
        and all(m.weight.dtype.is_floating_point is False for m in frozen)
    )
    run = execute(create_run(config), threading.Event(), log=lambda m: None)
    assert run.status == "complete" and run.info["used_quant"] == "4bit" and run.info["global_step"] == 2
    assert all(loss == loss for _, loss in read_progress(run.dir).train)  # no NaN from the 4-bit matmuls
    assert (run.adapter / "adapter_model.safetensors").exists()


def test_train_embeddings_trains_lm_head_and_embeddings_at_their_own_rate(tiny_hf_model, shared_data, tmp_path):
    import torch
    from safetensors.torch import load_file

    from trainers.backends import load_model
    from trainers.model import load_tokenizer
    from trainers.prepare import prepare_cpt
    from trainers.stage import _trainer, save_adapter

    corpus = shared_data / "openstax_medical_textbooks" / "nutrition_for_nurses.jsonl.gz"
    config = TrainConfig(
        method="cpt",
        model=str(tiny_hf_model),
        corpus=str(corpus),
        limit=6,
        max_seq_len=128,
        max_steps=2,
        batch_size=1,
        grad_accum=1,
        lr=1e-3,
        embedding_lr=1e-4,
        eval_fraction=0.0,
        train_embeddings=True,
        scheduler="constant",
        warmup_ratio=0.0,
    )
    tokenizer = load_tokenizer(str(tiny_hf_model))
    model, _, _ = load_model(config, str(tiny_hf_model))
    head = model.get_output_embeddings()
    original = head.original_module.weight.detach().clone()
    trainer = _trainer(config, "cpt", model, tokenizer, prepare_cpt(config, tokenizer), tmp_path, [])
    trainer.train()

    trained_head = head.modules_to_save["default"].weight
    assert not torch.equal(trained_head, original) and torch.equal(head.original_module.weight, original)
    named = dict(model.named_parameters())
    embedding_lora = [n for n in named if "embed_tokens.lora_embedding" in n]
    assert embedding_lora and any(named[n].abs().sum() > 0 for n in embedding_lora if "lora_embedding_A" in n)
    groups = {round(g["lr"], 8): {id(p) for p in g["params"]} for g in trainer.optimizer.param_groups}
    assert set(groups) == {1e-3, 1e-4}
    assert id(trained_head) in groups[1e-4] and all(id(named[n]) in groups[1e-4] for n in embedding_lora)
    assert any("q_proj" in n and id(p) in groups[1e-3] for n, p in named.items())

    save_adapter(model, str(tiny_hf_model), tmp_path / "adapter")
    saved = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert any("lm_head" in k for k in saved) and any("embed_tokens" in k for k in saved)


def _wait_for(run_name: str, done, timeout: float = 180) -> None:
    """Poll the run folder (what `medtui train status` reads) until `done(run, progress)`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = load_run(run_name)
        if done(run, read_progress(run.dir)):
            return
        time.sleep(0.5)
    raise AssertionError(f"run {run_name} not there in {timeout}s: {(run.dir / 'train.log').read_text()}")


def test_detached_run_watched_with_status(tiny_hf_model, short_sft):
    started = _medtui(
        "sft",
        "-m",
        str(tiny_hf_model),
        "-d",
        str(short_sft),
        "--name",
        "bg",
        "--max-steps",
        "3",
        "--batch-size",
        "1",
        "--grad-accum",
        "1",
        "--max-seq-len",
        "512",
        "--limit",
        "6",
        "--detach",
    )
    assert started.returncode == 0 and "started run bg in the background" in started.stdout, started.stderr
    _wait_for("bg", lambda run, progress: run.status in ("complete", "failed"))
    out = _medtui("status", "bg").stdout
    assert "bg: complete" in out and "step 3/3" in out and "adapter " in out, out
    assert load_run("bg").info["global_step"] == 3


def test_cancelled_run_resumes_from_the_cli(tiny_hf_model, short_sft):
    started = _medtui(
        "sft",
        "-m",
        str(tiny_hf_model),
        "-d",
        str(short_sft),
        "--name",
        "stopme",
        "--max-steps",
        "20",
        "--batch-size",
        "1",
        "--grad-accum",
        "1",
        "--max-seq-len",
        "512",
        "--limit",
        "8",
        "--save-steps",
        "1000",
        "--eval-steps",
        "1000",
        "--detach",
    )
    assert started.returncode == 0, started.stderr
    _wait_for("stopme", lambda run, progress: progress.step >= 1)
    pid = load_run("stopme").info["pid"]
    os.kill(pid, signal.SIGTERM)  # what the TUI's stop does: checkpoint after this step
    _wait_for("stopme", lambda run, progress: run.status == "cancelled", timeout=60)
    stopped_at = read_progress(load_run("stopme").dir).step
    assert 0 < stopped_at < 20 and list((load_run("stopme").dir / "checkpoints").glob("checkpoint-*"))

    resumed = _medtui("resume", "stopme")
    assert resumed.returncode == 0, resumed.stderr
    assert "stopme\tcomplete" in resumed.stdout and "resuming from" in resumed.stderr
    run = load_run("stopme")
    assert run.status == "complete" and run.info["global_step"] == 20
    steps = [s for s, _ in read_progress(run.dir).train]
    assert steps == sorted(set(steps)) and steps[-1] == 20  # no step trained twice


def test_index_as_cpt_corpus(tiny_hf_model, bioasq_jsonl, tmp_path):
    from medtui.core.rag.index import SnippetIndex
    from medtui.core.rag.sources import resolve_source

    small = tmp_path / "snippets.jsonl"
    small.write_text("".join(bioasq_jsonl.read_text().splitlines(keepends=True)[:12]))
    SnippetIndex("cpt-corpus").add([resolve_source(str(small), whole=True)])
    config = TrainConfig(
        method="cpt",
        model=str(tiny_hf_model),
        corpus="index:cpt-corpus",
        name="cpt-index",
        max_seq_len=128,
        max_steps=2,
        batch_size=1,
        grad_accum=1,
        eval_fraction=0.0,
    )
    run = execute(create_run(config), threading.Event(), log=lambda m: None)
    assert run.status == "complete" and run.info["global_step"] == 2
    assert run.info["data_report"]["read"] == 12 and run.info["data_report"]["kept"] == 12

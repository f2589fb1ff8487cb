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
    assert run.status == "complete" and run.info.used_quant == "4bit" and run.info.global_step == 2
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
    assert load_run("bg").info.global_step == 3


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
    pid = load_run("stopme").info.pid
    os.kill(pid, signal.SIGTERM)  # what the TUI's stop does: checkpoint after this step
    _wait_for("stopme", lambda run, progress: run.status == "cancelled", timeout=60)
    stopped_at = read_progress(load_run("stopme").dir).step
    assert 0 < stopped_at < 20 and list((load_run("stopme").dir / "checkpoints").glob("checkpoint-*"))

    resumed = _medtui("resume", "stopme")
    assert resumed.returncode == 0, resumed.stderr
    assert "stopme\tcomplete" in resumed.stdout and "resuming from" in resumed.stderr
    run = load_run("stopme")
    assert run.status == "complete" and run.info.global_step == 20
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
    assert run.status == "complete" and run.info.global_step == 2
    assert run.info.data_report.read == 12 and run.info.data_report.kept == 12


# run.json and progress.jsonl exactly as the code before typed records wrote them (a run stopped
# at step 2 of 3, and one complete), with the paths and the pid made placeholders.
OLD_CONFIG = """{
  "method": "sft",
  "model": "@MODEL@",
  "data": "@DATA@",
  "corpus": "",
  "name": "@NAME@",
  "subset": null,
  "split": "train",
  "question_field": null,
  "reasoning_field": null,
  "answer_field": null,
  "text_field": null,
  "system_prompt": "",
  "limit": null,
  "decontaminate": false,
  "lora_r": 16,
  "lora_alpha": 32,
  "lora_dropout": 0.05,
  "target_modules": [],
  "train_embeddings": false,
  "embedding_lr": 1e-05,
  "lr": 0.0001,
  "scheduler": "cosine",
  "warmup_ratio": 0.03,
  "epochs": 1.0,
  "max_steps": 3,
  "batch_size": 2,
  "grad_accum": 1,
  "max_seq_len": 2048,
  "packing": true,
  "quant": "auto",
  "backend": "auto",
  "eval_fraction": 0.05,
  "seed": 42,
  "logging_steps": 1,
  "save_steps": 1000,
  "eval_steps": 1000,
  "gradient_checkpointing": false,
  "extra": {},
"""
OLD_STOPPED = (
    OLD_CONFIG
    + """  "status": "cancelled",
  "base": "@MODEL@",
  "created": 1795996899.958569,
  "updated": 1795996924.4079459,
  "data_report": {},
  "pid": @PID@,
  "error": null,
  "started": 1795996901.0451088,
  "stage": "sft",
  "global_step": 2
}"""
)
OLD_COMPLETE = (
    OLD_CONFIG
    + """  "status": "complete",
  "base": "@MODEL@",
  "created": 1795996868.2325654,
  "updated": 1795996888.2451205,
  "data_report": {
    "read": 12,
    "kept": 12,
    "dropped": {},
    "first_dropped": {}
  },
  "pid": @PID@,
  "error": null,
  "started": 1795996868.2332044,
  "stage": "done",
  "global_step": 2,
  "used_backend": "hf",
  "used_quant": "none",
  "finished": 1795996888.243687
}"""
)
OLD_PROGRESS = """\
{"stage": "sft", "step": 1, "max_steps": 3, "epoch": 1.0, "time": 1795996918.4817767, "loss": 10.8341646194458, \
"lr": 0.0, "grad_norm": 0.3778190314769745, "tokens_per_s": 71.84767338344803, "eta_s": 18.483549118041992}
{"stage": "sft", "step": 2, "max_steps": 3, "epoch": 2.0, "time": 1795996924.1955178, "loss": 10.8341646194458, \
"lr": 0.0001, "grad_norm": 0.3758395314216614, "tokens_per_s": 116.21107651784776, "eta_s": 7.477757811546326}
{"stage": "sft", "step": 2, "max_steps": 3, "epoch": 2.0, "time": 1795996924.3, "eval_loss": 10.84, "eta_s": 7.4}
"""


def _old_run(name: str, text: str, model: Path, data: Path) -> Path:
    from trainers.runs import run_dir

    gone = subprocess.Popen(["true"])  # a pid whose process has exited: the worker of long ago
    gone.wait()
    folder = run_dir(name)
    folder.mkdir(parents=True)
    for key, value in {"@MODEL@": str(model), "@DATA@": str(data), "@NAME@": name, "@PID@": str(gone.pid)}.items():
        text = text.replace(key, value)
    (folder / "run.json").write_text(text, encoding="utf-8")
    return folder


def test_run_folders_from_before_typed_records_open_list_resume_and_export(tiny_hf_model, short_sft):
    import json
    import shutil

    from export.sources import resolve_source
    from trainers import api
    from trainers.runs import DataCounts, RunInfo, Stage

    stopped = _old_run("old-stopped", OLD_STOPPED, tiny_hf_model, short_sft)
    (stopped / "progress.jsonl").write_text(OLD_PROGRESS, encoding="utf-8")
    run = load_run("old-stopped")
    assert run.status is api.RunStatus.CANCELLED and run.info.stage is Stage.SFT and run.info.global_step == 2
    assert run.info.data_report == DataCounts() and run.config.max_steps == 3 and run.config.target_modules == ()
    [view] = api.list_runs().runs
    assert view.run == run and not view.orphaned and view.progress.step == 2 and view.progress.max_steps == 3
    assert view.progress.train == [(1, 10.8341646194458), (2, 10.8341646194458)] and view.progress.eval == [(2, 10.84)]

    events = list(api.resume("old-stopped"))  # foreground: follows the worker until it exits
    started, finished = events[0], events[-1]
    assert isinstance(started, api.Started) and not started.detached
    assert isinstance(finished, api.Finished) and finished.exit_code == 0, (stopped / "train.log").read_text()
    assert finished.run.status is api.RunStatus.COMPLETE and finished.run.info.global_step == 3
    records = [e.record for e in events if isinstance(e, api.Stepped)]
    assert [r.step for r in records if r.loss is not None] == [1, 2, 3]  # no checkpoint was kept: from the start
    assert any("sft data" in e.line for e in events if isinstance(e, api.Logged))
    assert read_progress(stopped).train[-1][0] == 3 and len(read_progress(stopped).train) == 5  # appended to
    source = resolve_source("old-stopped")
    assert (source.base, source.adapter) == (str(tiny_hf_model), stopped / "adapter")

    complete = _old_run("old-complete", OLD_COMPLETE, tiny_hf_model, short_sft)
    shutil.copytree(stopped / "adapter", complete / "adapter")
    written = json.loads((complete / "run.json").read_text(encoding="utf-8"))
    rewritten = RunInfo.from_json(written, complete / "run.json").to_json()
    assert rewritten == {**written, "cpt_data_report": None}  # the format on disk is unchanged: no migration
    source = resolve_source("old-complete")
    assert (source.name, source.base, source.adapter) == ("old-complete", str(tiny_hf_model), complete / "adapter")
    assert [v.run.name for v in api.list_runs().runs] == ["old-complete", "old-stopped"]  # by creation time


def test_ctrl_c_in_the_foreground_checkpoints_and_stops_the_worker(tiny_hf_model, short_sft):
    """A foreground `medtui train` follows a worker in its own session and passes Ctrl-C on."""
    cli = subprocess.Popen(
        [sys.executable, "-m", "medtui", "train", "sft", "-m", str(tiny_hf_model), "-d", str(short_sft)]
        + ["--name", "ctrlc", "--max-steps", "20", "--batch-size", "1", "--grad-accum", "1", "--max-seq-len", "512"]
        + ["--limit", "8", "--save-steps", "1000", "--eval-steps", "1000"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    from trainers.runs import run_dir

    deadline = time.time() + 180
    while read_progress(run_dir("ctrlc")).step < 1 and cli.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    cli.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal does
    out, err = cli.communicate(timeout=120)
    run = load_run("ctrlc")
    assert cli.returncode == 130 and "stopped; checkpoints are kept" in err, err
    assert "] step 1/20  loss " in err and "sft data:" in err  # progress records and train.log lines, as they came
    assert run.status == "cancelled" and 0 < read_progress(run.dir).step < 20
    assert list((run.dir / "checkpoints").glob("checkpoint-*"))

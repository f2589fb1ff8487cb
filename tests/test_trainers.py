"""Trainers on CPU with real models: a tiny random Llama (SmolLM2's tokenizer and template) for
masking, packing, CPT, MSFT and resume; SmolLM2-135M from its GGUF for a real SFT run."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from medtui.core.errors import MedtuiError
from medtui.core.records import from_json, to_json
from trainers.config import TrainConfig
from trainers.data import DataReport, SftRow, sft_rows
from trainers.formatting import IGNORE, format_row, tokenize_formatted
from trainers.pipeline import execute
from trainers.runs import create_run, load_run, read_progress

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _threads():
    import torch

    torch.set_num_threads(2)


def write_short_huatuo(shared_data: Path, out: Path, rows: int, question: int | None, cot: int, response: int) -> Path:
    """The first HuatuoGPT-o1 demo rows with their fields cut to these lengths, so the tiny model trains fast."""
    lines = (shared_data / "huatuogpt_o1_demo" / "demo_data.jsonl").read_text().splitlines()[:rows]
    with open(out, "w") as f:
        for r in map(json.loads, lines):
            f.write(
                json.dumps(
                    {
                        "Question": r["Question"][:question],
                        "Complex_CoT": r["Complex_CoT"][:cot],
                        "Response": r["Response"][:response],
                    }
                )
                + "\n"
            )
    return out


@pytest.fixture(scope="module")
def short_sft(shared_data, tmp_path_factory) -> Path:
    return write_short_huatuo(shared_data, tmp_path_factory.mktemp("sft") / "short.jsonl", 60, None, 300, 200)


def _tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def test_labels_masked_token_by_token(tiny_hf_model):
    tok = _tokenizer(tiny_hf_model)
    row = SftRow("What causes scurvy?", "Vitamin C is needed for collagen.", "Lack of vitamin C.", "x")
    formatted = format_row(tok, row, "You are a careful doctor.")
    assert formatted.prompt.endswith("<|im_start|>assistant\n")
    assert (
        formatted.completion == "<think>\nVitamin C is needed for collagen.\n</think>\n\nLack of vitamin C.<|im_end|>\n"
    )
    tokens = tokenize_formatted(tok, formatted)
    ids, mask = tokens["input_ids"], tokens["completion_mask"]
    boundary = mask.index(1)
    assert all(m == 0 for m in mask[:boundary]) and all(m == 1 for m in mask[boundary:])
    assert tok.decode(ids[:boundary]) == formatted.prompt  # every prompt token unlabelled
    assert tok.decode(ids[boundary:]) == formatted.completion  # every response token labelled, end of turn included
    assert ids == tok(formatted.prompt + formatted.completion, add_special_tokens=False)["input_ids"]


def test_packing_keeps_examples_apart(tiny_hf_model, short_sft, tmp_path):
    """TRL packs whole examples (bfd) with restarting position ids; the labels of the packed
    batch are exactly the per-example masks, and each example's logits match running it alone."""
    import torch
    from transformers import AutoModelForCausalLM

    from trainers.stage import _trainer

    tok = _tokenizer(tiny_hf_model)
    config = TrainConfig(method="sft", model=str(tiny_hf_model), data=str(short_sft), max_seq_len=512, batch_size=2)
    examples = [
        tokenize_formatted(tok, format_row(tok, SftRow(f"Question {i}?", "", "Answer " * (i + 1), "x")))
        for i in range(6)
    ]
    from trainers.prepare import Prepared

    model = AutoModelForCausalLM.from_pretrained(tiny_hf_model)
    trainer = _trainer(config, "sft", model, tok, Prepared(examples, [], DataReport(), "t"), tmp_path, [])
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["input_ids"].shape[0] == 1  # padding-free: one flattened row
    positions, labels, ids = batch["position_ids"][0], batch["labels"][0], batch["input_ids"][0]
    starts = [i for i, p in enumerate(positions.tolist()) if p == 0] + [len(positions)]
    assert len(starts) - 1 >= 2  # several examples in one sequence
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        for a, b in zip(starts, starts[1:]):
            piece = ids[a:b].tolist()
            match = next(e for e in examples if e["input_ids"] == piece)
            expected = [t if m else IGNORE for t, m in zip(match["input_ids"], match["completion_mask"])]
            expected[0] = IGNORE
            assert labels[a:b].tolist() == expected
            alone = model(input_ids=ids[a:b][None]).logits[0]
            assert torch.allclose(packed[a:b], alone, atol=1e-4)


def test_gradient_checkpointing_only_when_asked(tiny_hf_model, short_sft, tmp_path):
    """TRL's SFTConfig turns it on by default, which cost every run a third more compute."""
    from transformers import AutoModelForCausalLM

    from trainers.prepare import Prepared
    from trainers.stage import _trainer

    tok = _tokenizer(tiny_hf_model)
    examples = [tokenize_formatted(tok, format_row(tok, SftRow("Question?", "", "Answer", "x")))]
    for asked in (False, True):
        config = TrainConfig(method="sft", model=str(tiny_hf_model), data=str(short_sft), gradient_checkpointing=asked)
        model = AutoModelForCausalLM.from_pretrained(tiny_hf_model)
        trainer = _trainer(
            config, "sft", model, tok, Prepared(examples, [], DataReport(), "t"), tmp_path / str(asked), []
        )
        assert trainer.args.gradient_checkpointing is asked


def test_bad_rows_counted_and_benchmark_items_dropped(tmp_path):
    from evals.tasks import TASKS

    _, items = TASKS["pubmedqa"].load()
    planted = items[0].question
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(
                    {"question": "Why does a fever occur in infection?", "answer": "Pyrogens reset the set point."}
                ),
                "{not json",
                json.dumps(["a", "list"]),
                json.dumps({"question": "No answer here"}),
                json.dumps({"question": planted, "answer": "yes"}),
                json.dumps(
                    {
                        "question": "A question naming a test abstract",
                        "answer": "maybe",
                        "pmid": items and (REPO / "evals" / "data" / "pubmedqa_test_pmids.txt").read_text().split()[0],
                    }
                ),
            ]
        )
        + "\n"
    )
    from trainers.decontaminate import benchmark_questions

    report = DataReport()
    rows = list(sft_rows(str(path), report, screen=benchmark_questions().match))
    assert [r.question for r in rows] == ["Why does a fever occur in infection?"]
    assert report.read == 6 and dict(report.dropped) == {"malformed": 2, "missing_fields": 1, "benchmark": 2}
    assert report.examples["malformed"] == f"{path}:2"


def test_sft_too_long_rows_counted(tiny_hf_model, short_sft):
    from trainers.prepare import prepare_sft

    data = prepare_sft(
        TrainConfig(method="sft", model=str(tiny_hf_model), data=str(short_sft), max_seq_len=200),
        _tokenizer(tiny_hf_model),
    )
    assert data.report.dropped["too_long"] > 0 and data.report.kept == len(data.train) + len(data.eval)
    assert all(len(r["input_ids"]) <= 200 for r in data.train)


def test_msft_end_to_end_with_cpt_on_openstax(tiny_hf_model, short_sft, shared_data):
    corpus = shared_data / "openstax_medical_textbooks" / "nutrition_for_nurses.jsonl.gz"
    config = TrainConfig(
        method="msft",
        model=str(tiny_hf_model),
        data=str(short_sft),
        corpus=str(corpus),
        name="msft-tiny",
        limit=12,
        max_seq_len=256,
        max_steps=3,
        batch_size=2,
        grad_accum=1,
        lr=1e-3,
        save_steps=2,
        eval_steps=2,
        train_embeddings=True,
    )
    run = execute(create_run(config), threading.Event(), log=lambda m: None)
    assert run.status == "complete" and run.info.global_step == 3
    merged = run.dir / "stages" / "merged"
    assert run.base == str(merged) and (merged / "model.safetensors").exists()
    assert (run.dir / "stages" / "cpt" / "adapter" / "adapter_model.safetensors").exists()
    adapter_config = json.loads((run.adapter / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(merged)
    cpt_records = [json.loads(line) for line in (run.dir / "progress.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in cpt_records} == {"cpt", "sft"}
    progress = read_progress(run.dir)
    assert progress.stage == "sft" and progress.step == 3 and progress.train and progress.eval
    from medtui.core.registry import Registry

    spec = Registry().get("msft-tiny")
    assert spec.source == str(merged) and spec.adapter == str(run.adapter)
    assert list((run.dir / "tensorboard").iterdir())


def _worker(run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trainers.worker", str(run_dir)],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_resume_after_sigkill_reaches_the_same_step(tiny_hf_model, short_sft):
    config = TrainConfig(
        method="sft",
        model=str(tiny_hf_model),
        data=str(short_sft),
        name="killed",
        max_seq_len=512,
        epochs=1,
        batch_size=1,
        grad_accum=1,
        lr=1e-3,
        save_steps=2,
        eval_steps=1000,
        eval_fraction=0.0,
        limit=30,
    )
    run = create_run(config)
    process = _worker(run.dir)
    deadline = time.time() + 120
    # killed once a checkpoint is fully saved (the Trainer writes trainer_state.json last); a kill
    # mid-save is test_trainers_safety's case: that checkpoint is removed and training starts over
    while not list((run.dir / "checkpoints").glob("checkpoint-*/trainer_state.json")) and time.time() < deadline:
        assert process.poll() is None, (run.dir / "train.log").read_text()
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert load_run(run.dir).status == "running"  # a crash leaves it as it was; resume takes it from here
    killed_at = read_progress(run.dir).step
    assert process.returncode == -signal.SIGKILL and killed_at < read_progress(run.dir).max_steps
    resumed = _worker(run.dir)
    assert resumed.wait(timeout=240) == 0, (run.dir / "train.log").read_text()
    done = load_run(run.dir)
    assert "resuming from" in (run.dir / "train.log").read_text()
    # 30 rows, packing into 512-token sequences, batch 1: the uninterrupted step count
    from trainers.prepare import prepare_sft

    sequences = prepare_sft(config, _tokenizer(tiny_hf_model)).train
    assert done.status == "complete" and done.info.global_step == read_progress(run.dir).max_steps
    assert done.info.global_step <= len(sequences)


def test_cli_errors_are_one_line(tiny_hf_model, short_sft):
    def medtui(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "medtui", "train", *args], capture_output=True, text=True, cwd=REPO
        )

    cases = [
        (["sft", "-m", "no-such-model", "-d", str(short_sft)], "unknown model 'no-such-model'"),
        (["sft", "-m", str(tiny_hf_model), "-d", "/no/such.jsonl"], "not found"),
        (
            ["sft", "-m", str(tiny_hf_model), "-d", str(short_sft), "--answer-field", "nope"],
            "fields are Question, Complex_CoT, Response",
        ),
        (["cpt", "-m", str(tiny_hf_model)], "cpt needs a corpus"),
        (["sft", "-m", str(tiny_hf_model), "-d", str(short_sft), "--launcher", "mpi"], "--launcher 'mpi'"),
        (
            ["msft", "-m", str(tiny_hf_model), "-d", str(short_sft), "-c", str(short_sft), "--launcher", "accelerate"],
            "msft under accelerate",
        ),
        (["status", "nope"], "no training run"),
    ]
    for args, expected in cases:
        result = medtui(*args)
        lines = [line for line in result.stderr.splitlines() if line.startswith("medtui: error:")]
        assert result.returncode == 1 and len(lines) == 1 and expected in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not any((Path(os.environ["MEDTUI_DATA_DIR"]) / "runs").glob("*")), "a refused run left a folder"


def test_config_refuses_nonsense():
    with pytest.raises(MedtuiError, match="needs SFT data"):
        TrainConfig(method="sft", model="m")
    with pytest.raises(MedtuiError, match="--backend"):
        TrainConfig(method="cpt", model="m", corpus="c", backend="fast")
    config = TrainConfig(method="sft", model="m", data="d", target_modules=("q_proj",))
    assert from_json(TrainConfig, to_json(config), "run.json") == config
    with pytest.raises(MedtuiError, match="^run.json: unknown key 'colour'$"):
        from_json(TrainConfig, {**to_json(config), "colour": "red"}, "run.json")
    with pytest.raises(MedtuiError, match="^run.json: lora_r should be int, not '16'$"):
        from_json(TrainConfig, {**to_json(config), "lora_r": "16"}, "run.json")


def test_sft_rows_from_a_saved_dataset_and_its_splits(tmp_path):
    """A folder written by `DatasetDict.save_to_disk` (what a Hub dataset becomes offline) reads like a file."""
    from datasets import Dataset, DatasetDict

    rows = {
        "question": ["What causes scurvy?", "What causes rickets?"],
        "answer": ["Lack of vitamin C.", "Lack of vitamin D."],
    }
    DatasetDict({"train": Dataset.from_dict(rows), "test": Dataset.from_dict(rows)}).save_to_disk(
        str(tmp_path / "saved")
    )
    report = DataReport()
    got = list(sft_rows(str(tmp_path / "saved"), report))
    assert [(r.question, r.answer) for r in got] == list(zip(rows["question"], rows["answer"])) and report.kept == 2
    with pytest.raises(MedtuiError, match="no split 'validation'; it has train, test: pass --split"):
        list(sft_rows(str(tmp_path / "saved"), DataReport(), split="validation"))


def test_sft_rows_from_a_json_array_like_index_add_reads(tmp_path):
    """The same reader as `medtui index add`: a JSON array (or an object holding one) works, and
    an item that is not an object is counted, not fatal."""
    rows = [
        {"question": "What causes scurvy?", "answer": "Lack of vitamin C."},
        {"question": "What causes rickets?", "answer": "Lack of vitamin D."},
    ]
    array = tmp_path / "rows.json"
    array.write_text(json.dumps([rows[0], "not an object", rows[1]]), encoding="utf-8")
    holder = tmp_path / "holder.json"
    holder.write_text(json.dumps({"data": rows}), encoding="utf-8")
    for path, malformed in ((array, 1), (holder, 0)):
        report = DataReport()
        got = list(sft_rows(str(path), report))
        assert [(r.question, r.answer) for r in got] == [(r["question"], r["answer"]) for r in rows]
        assert report.read == len(rows) + malformed and report.dropped["malformed"] == malformed
    assert report.examples == {}  # the holder's rows are all well formed


def test_cpt_text_from_an_index(tmp_path):
    """`index:NAME` reads the snippets back through SnippetIndex.iter_snippets, title first."""
    from medtui.core.rag.index import SnippetIndex
    from medtui.core.rag.sources import resolve_source
    from trainers.data import corpus_texts

    rows = [
        {"id": str(i), "title": f"Note {i}", "text": f"Vitamin {v} deficiency causes disease {i}."}
        for i, v in enumerate("ABCDE")
    ]
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    unit = lambda texts: [[1.0, 0.0, 0.0] for _ in texts]  # no embedding needed to read text back
    SnippetIndex("cpt-pages").add([resolve_source(str(path), whole=True)], encode=unit)
    report = DataReport()
    got = list(corpus_texts("index:cpt-pages", report))
    assert sorted(text for _, text in got) == sorted(f"{r['title']}\n{r['text']}" for r in rows)
    assert all(where.startswith("index:cpt-pages:notes.jsonl:") for where, _ in got) and report.kept == len(rows)


def _write_run(name: str, run_json: str) -> Path:
    from trainers.runs import run_dir

    folder = run_dir(name)
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(run_json, encoding="utf-8")
    return folder


def test_records_nobody_wrote_are_one_line_errors_naming_the_file():
    from trainers import api
    from trainers.runs import RunInfo

    config = TrainConfig(method="sft", model="m", data="d", name="odd")
    info = RunInfo(config, api.RunStatus.RUNNING, created=1.0, updated=1.0).to_json()
    folder = _write_run("odd", json.dumps({**info, "status": "paused"}))
    with pytest.raises(MedtuiError) as error:
        load_run("odd")
    assert str(error.value) == (
        f"{folder / 'run.json'}: status 'paused' is not one of running, failed, cancelled, complete: "
        "fix or delete the run folder"
    )
    (folder / "run.json").write_text(json.dumps({**info, "colour": "red"}), encoding="utf-8")
    with pytest.raises(MedtuiError, match=r"run\.json: unknown key 'colour': fix or delete"):
        load_run("odd")
    listing = api.list_runs()  # the monitor and `train list` say why a run is missing
    assert listing.runs == [] and len(listing.unreadable) == 1 and "unknown key 'colour'" in listing.unreadable[0]

    (folder / "run.json").write_text(json.dumps(info), encoding="utf-8")
    good = {"stage": "sft", "step": 1, "max_steps": 2, "epoch": 0.5, "time": 1.0, "loss": 2.5}
    lines = [json.dumps(good), json.dumps({**good, "step": 2, "loss": 2.0}), '{"stage": "sft", "st']
    (folder / "progress.jsonl").write_text("\n".join(lines), encoding="utf-8")  # a crash cut the last line
    progress = read_progress(folder)
    assert progress.train == [(1, 2.5), (2, 2.0)] and progress.step == 2 and progress.last.loss == 2.0
    lines.insert(1, json.dumps({**good, "stage": "warmup"}))
    (folder / "progress.jsonl").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(
        MedtuiError,
        match=r"progress\.jsonl:2: stage 'warmup' is not one of cpt, merge, sft, done: fix or delete that line$",
    ):
        read_progress(folder)


def test_cli_options_come_from_the_config_fields():
    """Every TrainConfig field made with option(...) is a flag of `train sft` with its help and default."""
    from dataclasses import MISSING, fields

    from typer.main import get_command

    from medtui.cli.train import app

    command = get_command(app).commands["sft"]
    params = {p.name: p for p in command.params}
    offered = [f for f in fields(TrainConfig) if "help" in f.metadata]
    assert [p.name for p in command.params][: len(offered)] == [f.name for f in offered]
    for f in offered:
        assert params[f.name].help == f.metadata["help"]
        expected = ",".join(f.default) if isinstance(f.default, tuple) else f.default
        assert params[f.name].required if f.default is MISSING else params[f.name].default == expected
    assert params["model"].opts == ["--model", "-m"] and params["limit"].min == 1
    assert params["packing"].secondary_opts == ["--no-packing"] and "logging_steps" not in params

"""The seed study (issue 16) through `medtui study run` on the tiny model: it trains SFT and MSFT,
scores base, RAG, SFT and MSFT on the same questions, prints the table with what each cell must be
read against, and a rerun trains and scores nothing new; a plan that cannot run is one line. Also
what the study's table stands on: `eval compare` knows the task folder's benchmarks."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from evals.store import RunStore
from medtui.core.errors import MedtuiError
from medtui.core.registry import Registry, spec_from_source
from medtui.workflows.study import (
    Method,
    StudyFinished,
    StudyPlan,
    TableReady,
    TrainingProgress,
    TrainingStarted,
    run_study,
)
from tests.test_task_files import MEDQA_YAML, medqa_rows, write, write_jsonl

TASKS = ["mmlu_anatomy", "mmlu_medical_genetics"]
FACTS = [
    ("Which organ produces insulin?", "The pancreas, in the beta cells of the islets of Langerhans."),
    ("What is the first-line treatment of anaphylaxis?", "Intramuscular adrenaline (epinephrine)."),
    ("Which vessel carries blood to the lungs?", "The pulmonary artery."),
    ("What does the thyroid gland secrete?", "Thyroxine (T4) and triiodothyronine (T3), and calcitonin."),
    ("Which nerve supplies the diaphragm?", "The phrenic nerve, from C3 to C5."),
    ("What is the most common cause of community-acquired pneumonia?", "Streptococcus pneumoniae."),
    ("Which vitamin deficiency causes scurvy?", "Vitamin C (ascorbic acid)."),
    ("Which chromosome abnormality causes Down syndrome?", "Trisomy 21."),
]


def medtui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "medtui", *args], env=os.environ.copy(), capture_output=True, text=True, timeout=900
    )


def train_log(run: str) -> str:
    return (Path(os.environ["MEDTUI_DATA_DIR"]) / "runs" / run / "train.log").read_text(encoding="utf-8")


@pytest.fixture
def study_data(tmp_path) -> tuple[Path, Path]:
    """A few short SFT rows and CPT paragraphs: the tiny model trains on them in seconds."""
    sft = write_jsonl(tmp_path / "sft.jsonl", [{"Question": q, "Response": a} for q, a in FACTS])
    cpt = write_jsonl(tmp_path / "cpt.jsonl", [{"text": f"{q} {a} " * 3} for q, a in FACTS])
    return sft, cpt


@pytest.fixture
def tiny_index(tmp_path) -> str:
    """A real index (MiniLM and BM25) of a handful of passages, for the rag row."""
    from medtui.core.rag.index import SnippetIndex
    from medtui.core.rag.sources import resolve_source

    passages = [{"id": str(i), "title": q, "text": a} for i, (q, a) in enumerate(FACTS)]
    SnippetIndex("study-tiny").add([resolve_source(str(write_jsonl(tmp_path / "passages.jsonl", passages)))])
    return "study-tiny"


def test_the_study_trains_scores_every_method_on_the_same_items_and_a_rerun_reuses_it_all(
    tiny_hf_model, study_data, tiny_index
):
    sft, cpt = study_data
    args = [
        "study", "run", "-m", str(tiny_hf_model), "--sft-data", str(sft), "--cpt-data", str(cpt),
        "-t", TASKS[0], "-t", TASKS[1], "--limit", "5", "--index", tiny_index, "--name", "tiny-study",
        "--max-steps", "2", "--batch-size", "1", "--grad-accum", "1", "--max-seq-len", "128",
    ]  # fmt: skip
    first = medtui(*args)
    assert first.returncode == 0, first.stderr
    assert "sft: training run tiny-study-sft" in first.stderr and "msft: training run tiny-study-msft" in first.stderr
    registry = {spec.name: spec for spec in Registry().all()}
    assert registry["tiny-study-base"].source == str(tiny_hf_model) and not registry["tiny-study-base"].adapter
    assert registry["tiny-study-sft"].source == str(tiny_hf_model) and registry["tiny-study-sft"].adapter
    assert registry["tiny-study-msft"].source.endswith("stages/merged")  # the CPT-merged base the SFT adapter fits

    store = RunStore()
    runs = store.runs()
    rows = dict(line.split("\t") for line in first.stdout.splitlines()[:4])
    assert list(rows) == ["base", "rag", "sft", "msft"]
    assert rows["base"] == "tiny-study-base · loglik" and rows["rag"].startswith(
        "tiny-study-base · loglik + RAG (study-tiny, k=3"
    )
    assert {r.key.method for r in runs} == set(rows.values()) and len(runs) == 4 * len(TASKS)
    assert all(r.state == "complete" and r.done == 5 and (r.key.limit, r.key.seed) == (5, 0) for r in runs)
    for task in TASKS:  # every method answered the very same questions
        asked = {frozenset(p.item_id for p in store.predictions(r.key.id)) for r in runs if r.key.task == task}
        assert len(asked) == 1 and len(next(iter(asked))) == 5

    table = first.stdout.split("\n", 4)[4]
    for method in rows.values():
        assert method in table
    assert table.count("n=5 · invalid ") == 4 * len(TASKS) and table.count("best constant ") == 4 * len(TASKS)
    assert table.count("vs base, p=") == 3 * len(TASKS)  # rag, sft and msft, paired with the base item by item
    assert "unweighted mean of 2 tasks" in table and "McNemar" in table

    trained = {name: train_log(name) for name in ("tiny-study-sft", "tiny-study-msft")}
    saved = {r.key.id: store.predictions_path(r.key.id).read_text() for r in runs}
    second = medtui(*args)
    assert second.returncode == 0, second.stderr
    assert "training run" not in second.stderr
    assert "sft: tiny-study-sft complete already, reused" in second.stderr
    assert "msft: tiny-study-msft complete already, reused" in second.stderr
    assert {name: train_log(name) for name in trained} == trained  # no worker started
    again = RunStore().runs()
    assert {r.key.id for r in again} == set(saved) and all(r.state == "complete" for r in again)
    assert {r.key.id: store.predictions_path(r.key.id).read_text() for r in again} == saved  # nothing scored again
    assert second.stdout == first.stdout


def test_a_stopped_study_continues_where_it_stopped(tiny_hf_model, study_data):
    """A stop request (Esc in the TUI; in the CLI, Ctrl-C reaches the worker directly) ends the
    study with the run's checkpoint kept; the same plan then resumes that run and finishes."""
    from medtui.core.config import Settings
    from trainers import api

    sft, _ = study_data
    train = {"max_steps": 12, "batch_size": 1, "grad_accum": 1, "max_seq_len": 128, "save_steps": 1}
    plan = StudyPlan(
        str(tiny_hf_model), str(sft), tasks=(TASKS[0],), methods=(Method.BASE, Method.SFT), limit=3,
        name="stopped", train=train,
    )  # fmt: skip
    cancel = threading.Event()
    events = []
    for event in run_study(Settings(), plan, cancel):
        events.append(event)
        if isinstance(event, TrainingProgress):
            cancel.set()
    assert events[-1] == StudyFinished(stopped=True, failures=0)
    stopped = api.status("stopped-sft")
    assert stopped.run.status == "cancelled" and 0 < stopped.progress.step < 12 and not stopped.alive

    again = list(run_study(Settings(), plan))
    assert [e.resumed for e in again if isinstance(e, TrainingStarted)] == [True]
    assert again[-1] == StudyFinished(stopped=False, failures=0) and isinstance(again[-2], TableReady)
    done = api.status("stopped-sft")
    assert done.run.status == "complete" and done.run.info.global_step == 12
    assert "resuming from" in train_log("stopped-sft")
    assert len(RunStore().runs()) == 2  # the base's run, scored before the stop, was not scored again


def test_a_missing_sft_data_file_is_one_line_and_nothing_starts(tiny_hf_model, tmp_path):
    result = medtui("study", "run", "-m", str(tiny_hf_model), "--sft-data", str(tmp_path / "nope.jsonl"),
                    "--methods", "base,sft", "-t", TASKS[0], "--limit", "2")  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"medtui: error: dataset {str(tmp_path / 'nope.jsonl')!r} not found: give a JSONL/JSON/CSV/parquet/.txt file, "
        "a folder, index:NAME or a Hub id like org/name"
    ]
    assert RunStore().runs() == [] and not (Path(os.environ["MEDTUI_DATA_DIR"]) / "runs").exists()
    assert [spec.name for spec in Registry().all()] == ["smollm2"]  # not even the base was registered


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"methods": ("base", "msft"), "cpt_data": ""}, "msft needs SFT data and a CPT corpus: pass --sft-data"),
        ({"methods": ("sft",), "sft_data": ""}, "sft needs SFT data: pass --sft-data FILE, or --sft-adapter MODEL"),
        ({"methods": ("base", "dpo")}, "unknown study method 'dpo': use one of base, rag, sft, msft"),
        ({"train": {"epoch": 1}}, "unknown training setting 'epoch'"),
        ({"export": "q5"}, "unknown quant 'q5'"),
        ({"name": "../x"}, "study name '../x'"),
    ],
)
def test_plans_that_cannot_run_are_refused_in_one_line(plan, message):
    with pytest.raises(MedtuiError, match=message):
        StudyPlan("smollm2", **{"sft_data": "s", "cpt_data": "c", **plan})


def test_the_study_name_follows_what_training_depends_on(tmp_path):
    data = write_jsonl(tmp_path / "sft.jsonl", [])
    plan = StudyPlan("smollm2", str(data), "index:default")
    assert plan.study.startswith("smollm2-study-") and plan.train_config(Method.SFT).name == f"{plan.study}-sft"
    assert plan.train_config(Method.SFT).data == str(data.resolve())  # a rerun from another folder is the same plan
    same = StudyPlan("smollm2", str(data), "index:default", tasks=("pubmedqa",), limit=3)  # evaluation only
    assert same.study == plan.study
    assert StudyPlan("smollm2", str(data), "index:default", train={"epochs": 2.0}).study != plan.study
    assert plan.train_config(Method.MSFT).corpus == "index:default" and plan.train_config(Method.SFT).corpus == ""


def test_eval_compare_knows_the_task_folder_and_pairs_its_runs(tiny_hf_model, tmp_path, monkeypatch):
    """A task of the task folder is a column like a built-in one, named by its own options (read from
    its data: the file does not say how many), and its methods are paired item by item."""
    write_jsonl(tmp_path / "bench" / "data" / "questions.jsonl", medqa_rows(6))
    write(tmp_path / "bench" / "tasks" / "medqa.yaml", MEDQA_YAML)
    monkeypatch.setenv("MEDTUI_TASK_DIR", str(tmp_path / "bench" / "tasks"))
    for name in ("tiny", "tiny-again"):  # two methods on the same weights: they must agree on every item
        Registry().add(spec_from_source(name, str(tiny_hf_model)))
    ran = medtui(
        "eval", "run", "-m", "tiny", "-m", "tiny-again", "-t", "my_medqa", "-t", "mmlu_anatomy", "--limit", "4"
    )
    assert ran.returncode == 0, ran.stderr

    compared = medtui("eval", "compare", "-t", "my_medqa", "--base", "tiny · loglik", "--json")
    assert compared.returncode == 0, compared.stderr
    table = json.loads(compared.stdout)
    assert table["tasks"] == ["my_medqa"] and table["methods"] == ["tiny · loglik", "tiny-again · loglik"]
    cell = next(c for c in table["cells"] if c["method"] == "tiny-again · loglik" and c["task"] == "my_medqa")
    assert (cell["n"], cell["paired_n"], cell["difference"], cell["p_mcnemar"]) == (4, 4, 0.0, 1.0)
    assert list(cell["answers"]) == ["A", "B", "C", "D"] and cell["chance"] == 0.25

    everything = medtui("eval", "compare")  # the task folder's column after the built-in ones
    assert everything.returncode == 0, everything.stderr
    header = next(line for line in everything.stdout.splitlines() if "method" in line)
    assert header.index("mmlu_anatomy") < header.index("my_medqa")

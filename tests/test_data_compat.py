"""A data folder written before the restructure opens, lists and resumes with today's code.

`fixtures/data_v1` was written by commit ec07168's own code (CLI and services, not by hand):
models.toml with a tiny HF model and a trained adapter, a chat in history.sqlite3, an index of
three snippets, two eval runs (one complete, one stopped after its first chunk) and a complete
SFT run folder (its checkpoints left out for size). Paths it recorded are rewritten to this
machine's on copy, and the tiny model is rebuilt from the suite's seed with the tokenizer config
the old code saw (it records `local_files_only`, which follows HF_HUB_OFFLINE). Its first
answer is stored as `cancelled`: the old transformers engine set the caller's cancel event
when any answer ended (tests/test_engine_contract.py).
"""

import shutil
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "data_v1"
OLD_MODEL, OLD_ROOT = "/tmp/gen/tinyllama", "/tmp/gen/v1"


@pytest.fixture
def old_home(tmp_path, tiny_hf_model, monkeypatch) -> Path:
    home = tmp_path / "home"
    shutil.copytree(FIXTURE, home)
    model = shutil.copytree(tiny_hf_model, tmp_path / "tinyllama")
    shutil.move(home / "model" / "tokenizer_config.json", model / "tokenizer_config.json")
    for path in [*home.rglob("*.toml"), *home.rglob("*.json")]:
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(OLD_MODEL, str(model)).replace(OLD_ROOT, str(home)), encoding="utf-8")
    monkeypatch.setenv("MEDTUI_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("MEDTUI_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("MEDTUI_INDEXES_DIR", str(home / "data" / "indexes"))
    return home


def test_history_and_models_open_and_the_chat_goes_on(old_home):
    from medtui.chat.service import ChatService
    from medtui.core.config import Settings
    from medtui.core.engines import load_engine
    from medtui.core.history import History
    from medtui.core.registry import Registry

    history = History()
    (conversation,) = history.conversations()
    assert conversation.title == "What is anaemia?"
    assert [(m.role, m.status) for m in history.messages(conversation.id)] == [
        ("user", "complete"), ("assistant", "cancelled"), ("user", "complete"), ("assistant", "cancelled"),
    ]  # fmt: skip
    assert history.messages(conversation.id)[3].sources[0]["title"] == "Anaemia"
    registry = Registry()
    assert {"smollm2", "tiny", "oldrun"} <= {spec.name for spec in registry.all()}
    assert Path(registry.get("oldrun").adapter).is_dir()
    settings = Settings(model="oldrun", rag=False, max_tokens=6, temperature=0.0)
    engine = load_engine(registry.get("oldrun"), settings)
    try:
        list(ChatService(settings, engine, history, None).answer(conversation.id, "And its treatment?"))
    finally:
        engine.close()
    # six tokens end the answer at the token limit: stored as cut, not complete
    assert [m.status for m in history.messages(conversation.id)][-2:] == ["complete", "cut"]


def test_index_is_served(old_home):
    from medtui.core.rag.index import SnippetIndex
    from medtui.core.rag.retriever import Retriever, SearchOptions

    hits = Retriever(SnippetIndex("tinyidx").open(), SearchOptions()).search("first-line drug for diabetes", 1)
    assert hits[0].snippet.title == "Metformin"


def test_eval_runs_list_and_the_stopped_one_resumes(old_home):
    from evals.runner import run_task
    from evals.store import RunStore
    from evals.tasks import TASKS
    from medtui.core.config import Settings
    from medtui.core.engines import load_engine
    from medtui.core.registry import Registry

    runs = {r.key.task: r for r in RunStore().runs()}
    assert (runs["mmlu_anatomy"].state, runs["mmlu_anatomy"].done) == ("complete", 20)
    stopped = runs["mmlu_medical_genetics"]
    assert (stopped.state, stopped.done, stopped.size) == ("cancelled", 16, 40)
    engine = load_engine(Registry().get("tiny"), Settings())
    try:
        result = run_task(engine, TASKS["mmlu_medical_genetics"], limit=40)
    finally:
        engine.close()
    assert result.key.id == stopped.key.id and len(result.predictions) == 40
    assert len(RunStore().runs()) == 2


def test_training_run_lists_and_exports_as_a_source(old_home):
    from export.sources import resolve_source
    from trainers.api import list_runs

    listing = list_runs()
    (view,) = listing.runs
    assert view.run.name == "oldrun" and view.run.info.status == "complete" and not listing.unreadable
    source = resolve_source(str(old_home / "data" / "runs" / "oldrun"))
    assert Path(source.adapter).is_dir()

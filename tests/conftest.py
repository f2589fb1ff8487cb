"""Shared fixtures: every test gets its own config and data folders; the default index is
built once per session from the packaged corpus (real chromadb, real MiniLM)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def indexes_dir(tmp_path_factory) -> Path:
    """A fresh folder per session. MEDTUI_TEST_INDEXES names one kept between sessions, so the
    default index is built once while iterating locally (CI never sets it)."""
    kept = os.environ.get("MEDTUI_TEST_INDEXES")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path_factory.mktemp("indexes")


@pytest.fixture(autouse=True)
def medtui_home(tmp_path, monkeypatch, indexes_dir) -> Path:
    monkeypatch.setenv("MEDTUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MEDTUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEDTUI_INDEXES_DIR", str(indexes_dir))
    for name in list(os.environ):
        if name.startswith("MEDTUI_") and name not in ("MEDTUI_CONFIG_DIR", "MEDTUI_DATA_DIR", "MEDTUI_INDEXES_DIR"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("COLUMNS", raising=False)  # reports wrap to it: a test sets the width it checks
    return tmp_path


@pytest.fixture(scope="session")
def default_index(indexes_dir):
    """The real first-run index (about a minute on 2 cores), built once."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MEDTUI_INDEXES_DIR", str(indexes_dir))
    from medtui.core.rag.default_index import ensure_default_index

    index = ensure_default_index()
    mp.undo()
    return index


DIABETES = "What is the first-line drug treatment for type 2 diabetes?"


@pytest.fixture(scope="session")
def diabetes_answer(default_index, indexes_dir, tmp_path_factory) -> tuple[dict, Path]:
    """`medtui ask --json` of the diabetes question on the default model and index, run once for the
    tests that read it (a subprocess costs ~40 s on 2 cores), in a data folder of its own: (payload,
    that folder's MEDTUI_DATA_DIR, which holds the conversation it recorded)."""
    home = tmp_path_factory.mktemp("diabetes-ask")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDTUI_") and k != "COLUMNS"}
    env |= {"MEDTUI_CONFIG_DIR": str(home / "config"), "MEDTUI_DATA_DIR": str(home / "data")}
    env["MEDTUI_INDEXES_DIR"] = str(indexes_dir)
    command = [str(Path(sys.executable).with_name("medtui")), "ask", "--json", "--temperature", "0"]
    result = subprocess.run([*command, "--max-tokens", "48", DIABETES], capture_output=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout), home / "data"


@pytest.fixture
def fast_settings():
    """Short answers keep generation tests quick on 2 cores."""
    from medtui.core.config import Settings

    return Settings(max_tokens=24, temperature=0.0, n_ctx=2048)


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    from medtui.core.assets import asset_path

    return asset_path("smollm2_gguf")


@pytest.fixture(scope="session")
def tiny_hf_model(tmp_path_factory) -> Path:
    """A tiny random Llama with SmolLM2's real tokenizer and chat template, as an HF folder."""
    from tests.random_llama import random_llama

    return random_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real public data beside the checkout (../shared/data); tests that need it skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def bioasq_jsonl(shared_data, tmp_path_factory) -> Path:
    """The first 600 distinct BioASQ 7B gold snippets as a local JSONL file (id, title, text)."""
    import gzip
    import json

    rows: dict[str, dict] = {}
    for path in sorted((shared_data / "bioasq_taskb_golden" / "Task7BGoldenEnriched").glob("*.json.gz")):
        for q in json.loads(gzip.decompress(path.read_bytes()))["questions"]:
            for s in q["snippets"]:
                pmid = s["document"].rsplit("/", 1)[-1]
                key = f"{pmid}-{s['offsetInBeginSection']}-{s['offsetInEndSection']}"
                rows.setdefault(key, {"id": key, "title": f"PubMed {pmid}", "text": s["text"]})
    out = tmp_path_factory.mktemp("bioasq") / "bioasq_snippets.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in list(rows.values())[:600]), encoding="utf-8")
    return out


class Gate:
    """Holds a worker after its first progress report until the test lets it go, so a test that
    stops a run half-way does so however fast the machine is (a fast CI box once finished the
    whole run between two polls)."""

    def __init__(self) -> None:
        import threading

        self.opened = threading.Event()

    def hold(self, progress, when=lambda *args: True):
        """Wrap a progress callback: report, then wait for `open()` if `when(*args)` says so."""

        def held(*args, **kwargs):
            progress(*args, **kwargs)
            if when(*args):
                self.opened.wait(60)

        return held

    def hold_events(self, events, when=lambda event: True):
        """Wrap an event generator: pass each event on, then wait for `open()` if `when(event)` says so."""
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                return stop.value
            yield event
            if when(event):
                self.opened.wait(60)

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def gate():
    gate = Gate()
    yield gate
    gate.open()  # never leave a worker waiting after a failed test

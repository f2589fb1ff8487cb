"""Hostile input and a shared machine: private files, a hand-edited or damaged models.toml and
history, bytes that are not a GGUF, names that leave their folder, terminal escapes in data,
out-of-range settings. Each is one line for the user, never a traceback, never a leak."""

import json
import os
import stat
import time
from pathlib import Path

import pytest

from medtui.chat.service import ChatService
from medtui.core import paths
from medtui.core.config import Settings
from medtui.core.errors import MedtuiError
from medtui.core.history import History
from medtui.core.registry import Registry, spec_from_source
from medtui.core.text import check_name, printable, printable_json
from tests.test_cli import one_line_error, run


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def shared_umask():
    """The usual umask (022), under which a plain write is readable by every local user."""
    old = os.umask(0o022)
    yield
    os.umask(old)


# -- privacy ---------------------------------------------------------------------------------


def test_history_and_models_toml_are_private(shared_umask, smollm2_gguf):
    history = History()
    history.add_message(history.new_conversation("Gout"), "user", "my symptoms")
    db = paths.history_db()
    assert mode(paths.data_dir()) == 0o700
    for file in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        assert mode(file) == 0o600, file
    history.close()

    Registry().add(spec_from_source("copy", str(smollm2_gguf)))
    assert mode(paths.config_dir()) == 0o700
    assert mode(paths.models_file()) == 0o600


def test_start_tightens_an_existing_home_but_not_a_shared_index_folder(shared_umask, tmp_path, monkeypatch):
    shared = tmp_path / "shared-indexes"
    monkeypatch.setenv("MEDTUI_INDEXES_DIR", str(shared))
    written = {  # what an earlier version left behind, readable by all
        paths.config_file(): "top_k = 4\n",
        paths.models_file(): "",
        paths.data_dir() / "history.sqlite3.damaged-20240101-000000": "old chat",
        paths.data_dir() / "evals" / "runs.sqlite3": "eval store",
        paths.data_dir() / "runs" / "sft-1" / "run.json": "{}",
        shared / "med" / "manifest.json": "{}",
    }
    for file, text in written.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
    for folder in (paths.config_dir(), paths.data_dir(), shared):
        folder.chmod(0o755)
    assert run("models", "list").returncode == 0
    for file in written:
        if shared in file.parents:
            assert mode(file) == 0o644 and mode(file.parent) == 0o755  # the user's to share
        else:
            assert mode(file) == 0o600, file
            assert mode(file.parent) == 0o700, file.parent
    assert mode(paths.config_dir()) == mode(paths.data_dir()) == 0o700
    assert mode(shared) == 0o755


# -- models.toml schema -------------------------------------------------------------------------

BAD_REGISTRIES = [
    ("models = 5\n", "'models' must be tables"),
    ('[models.x]\nkind = "evil"\nsource = "a.gguf"\n', "model 'x': kind = 'evil' must be one of gguf, hf"),
    ('[models.x]\nkind = "gguf"\nsource = 5\n', "model 'x': source = 5 must be a non-empty string"),
    ('[models.x]\nkind = "gguf"\n', "model 'x': source is missing"),
    ('[models.x]\nkind = "gguf"\nsource = "a.gguf"\ncolour = "red"\n', "model 'x': unknown key 'colour'"),
    ('[models.x]\nkind = "gguf"\nsource = "a.gguf"\nbuiltin = true\n', "model 'x': unknown key 'builtin'"),
    ('[models.x]\nkind = "hf"\nsource = "a/b"\nadapter = 3\n', "model 'x': adapter = 3 must be a non-empty string"),
    ("[models]\nx = 5\n", "model 'x' must be a table"),
    ('[models.".."]\nkind = "hf"\nsource = "a/b"\n', "model name '..'"),
    ('[models.smollm2]\nkind = "hf"\nsource = "a/b"\n', "model 'smollm2' is the built-in name"),
    ('colour = "red"\n', "unknown key 'colour'"),
]


@pytest.mark.parametrize(("content", "message"), BAD_REGISTRIES)
def test_models_toml_is_checked_on_load(content, message):
    paths.config_dir().mkdir(parents=True)
    paths.models_file().write_text(content)
    with pytest.raises(MedtuiError, match=message) as info:
        Registry().all()
    assert str(paths.models_file()) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("content", "message"), BAD_REGISTRIES[:4])
@pytest.mark.parametrize("command", [["models", "list"], ["ask", "What is gout?", "--no-rag"]])
def test_bad_models_toml_is_one_line_in_the_cli(content, message, command):
    paths.config_dir().mkdir(parents=True)
    paths.models_file().write_text(content)
    one_line_error(run(*command), message)


# -- models add reads the GGUF header -------------------------------------------------------------


def test_models_add_refuses_bytes_that_are_not_a_gguf(tmp_path, smollm2_gguf):
    fake = tmp_path / "weights.gguf"
    fake.write_bytes(b"PK\x03\x04" + bytes(300))
    one_line_error(run("models", "add", "fake", str(fake)), f"{fake} is not a GGUF file")
    assert [s.name for s in Registry().all()] == ["smollm2"]
    with pytest.raises(MedtuiError, match=f"LoRA adapter file {fake} is not a GGUF file"):
        spec_from_source("tuned", str(smollm2_gguf), adapter=str(fake))


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".", "..", "...", "", "a/b", "../x", "x\n", "ok\x1b[2J", "a b"])
def test_names_that_leave_their_folder_are_refused(name):
    with pytest.raises(MedtuiError, match="use letters, digits") as info:
        check_name("model", name)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


@pytest.mark.parametrize("name", ["smol-med", "v1.2_q8", ".hidden-but-inside", "médecine"])
def test_ordinary_names_pass(name):
    assert check_name("export", name) == name


def test_model_and_export_names_use_the_one_check(tmp_path, smollm2_gguf, tiny_hf_model):
    with pytest.raises(MedtuiError, match="model name '..'"):
        spec_from_source("..", str(smollm2_gguf))
    one_line_error(run("models", "add", "..", str(smollm2_gguf)), "model name '..'")

    from export.pipeline import ExportRequest, export_model

    out = tmp_path / "exports"
    with pytest.raises(MedtuiError, match="export name '..'"):
        export_model(ExportRequest(str(tiny_hf_model), "f16", name="..", out_dir=out))
    assert not out.exists()


# -- a damaged history ---------------------------------------------------------------------------


def _history_with_chats(conversations: int = 30) -> Path:
    history = History()
    for n in range(conversations):
        conversation = history.new_conversation(f"chat {n}")
        for _ in range(4):
            history.add_message(conversation, "user", "symptoms " * 400)
    history.close()  # the last connection checkpoints the WAL into the file
    return paths.history_db()


def _aside(db: Path) -> Path:
    (aside,) = [p for p in db.parent.iterdir() if p.name.startswith(db.name + ".damaged-")]
    return aside


def test_history_with_damaged_pages_is_set_aside_and_a_fresh_one_starts():
    db = _history_with_chats()
    damaged = bytearray(db.read_bytes())
    damaged[4096 * 5 : 4096 * 6] = b"\xff" * 4096  # one inner page of the messages table
    db.write_bytes(bytes(damaged))

    history = History()
    assert history.notice and str(db) in history.notice and "\n" not in history.notice
    assert _aside(db).name in history.notice
    assert _aside(db).read_bytes() == bytes(damaged)  # kept as it was, for recovery
    assert history.conversations() == []
    history.add_message(history.new_conversation("new"), "user", "still works")
    assert History().notice is None  # said once: the fresh one is sound


@pytest.mark.parametrize("content", [b"", b"this is not a database" * 50], ids=["empty", "not-sqlite"])
def test_empty_or_foreign_history_file_is_set_aside(content):
    db = paths.history_db()
    db.parent.mkdir(parents=True)
    db.write_bytes(content)
    history = History()
    assert history.notice and "was damaged" in history.notice
    assert _aside(db).read_bytes() == content
    assert history.conversations() == []


def test_a_sound_history_is_kept_and_says_nothing():
    _history_with_chats(2)
    history = History()
    assert history.notice is None and len(history.conversations()) == 2


def test_ask_says_once_that_the_history_was_damaged():
    paths.data_dir().mkdir(parents=True)
    paths.history_db().write_bytes(b"")
    result = run("ask", "Define tachycardia.", "--no-rag", "--max-tokens", "4")
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert [line for line in err.splitlines() if "damaged" in line] == [
        f"medtui: note: the chat history {paths.history_db()} was damaged (the file is empty): "
        f"kept it as {_aside(paths.history_db()).name} and started a new one"
    ]
    assert len(History().conversations()) == 1


# -- a failed answer leaves no empty conversation -----------------------------------------------


def test_a_refused_question_deletes_only_an_empty_conversation():
    history = History()
    service = ChatService(Settings(), None, history, None)  # RAG on, no index: refused before the engine
    fresh = history.new_conversation("new question")
    with pytest.raises(MedtuiError, match="no index is loaded"):
        next(service.answer(fresh, "What is gout?"))
    assert history.conversations() == []

    going = history.new_conversation("earlier chat")
    history.add_message(going, "user", "What is gout?")
    with pytest.raises(MedtuiError, match="no index is loaded"):
        next(service.answer(going, "And its treatment?"))
    assert [c.id for c in history.conversations()] == [going]


def test_failed_ask_leaves_no_conversation():
    one_line_error(run("ask", "Explain the kidney. " * 400, "--n-ctx", "512", "--no-rag"), "raise n_ctx")
    assert History().conversations() == []


# -- terminal escapes ----------------------------------------------------------------------------

HOSTILE = "Gout\x1b]0;pwned\x07\x1b[2J\x1b[1;31mred\x1b[0m\x9b2J\x1bP1$qm\x1b\\ \r\x00done\n\tnext\x7f"


def test_printable_strips_escape_sequences_and_controls():
    assert printable(HOSTILE) == "Goutred2J done\n\tnext"
    assert printable("Fièvre — 38 °C, 血压\n") == "Fièvre — 38 °C, 血压\n"
    assert printable("\x1b]0;unterminated title") == "0;unterminated title"  # the ESC is what acts


def test_printable_json_is_lossless_and_inert():
    dumped = printable_json({"title": HOSTILE})
    assert not any(ch in dumped for ch in "\x1b\x07\x9b\x7f\x00\r")
    assert json.loads(dumped) == {"title": HOSTILE}


def test_error_messages_quoting_user_data_carry_no_escapes():
    result = run("ask", "What is gout?", "--index", "evil\x1b]0;pwned\x07\x1b[2J")
    one_line_error(result, "medtui index add evil")
    assert b"\x1b" not in result.stderr and b"\x07" not in result.stderr


def test_ask_prints_titles_without_escapes(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {"id": "1", "title": "Gout\x1b]0;pwned\x07\x1b[2J", "text": "Gout is arthritis caused by urate crystals."},
        {"id": "2", "title": "Fever", "text": "Fever is a raised body temperature."},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert run("index", "add", "escapes", str(corpus), "--whole").returncode == 0
    result = run("ask", "What causes gout?", "--index", "escapes", "--top-k", "2", "--max-tokens", "4")
    assert result.returncode == 0, result.stderr.decode()
    assert b"\x1b" not in result.stdout and b"\x07" not in result.stdout
    assert "] Gout (" in result.stdout.decode()
    result = run("ask", "What causes gout?", "--index", "escapes", "--top-k", "2", "--max-tokens", "4", "--json")
    assert b"\x1b" not in result.stdout and b"\x07" not in result.stdout
    assert rows[0]["title"] in [s["title"] for s in json.loads(result.stdout)["sources"]]  # the data, unchanged


# -- settings from the environment -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("MEDTUI_TOP_K", "100000", "use 1 to 50"),
        ("MEDTUI_TEMPERATURE", "-1", "use 0.0 to 2.0"),
        ("MEDTUI_N_CTX", "100000000", "use 0 to 1048576"),
    ],
)
def test_out_of_range_environment_is_one_line_from_ask(monkeypatch, variable, value, allowed):
    monkeypatch.setenv(variable, value)
    started = time.monotonic()
    result = run("ask", "What is gout?")
    one_line_error(result, variable)
    assert allowed in result.stderr.decode()
    assert time.monotonic() - started < 30  # refused before any model or index loads


async def test_the_chat_says_once_that_the_history_was_damaged():
    from medtui.core.config import Settings
    from medtui.tui.app import MedtuiApp
    from tests.test_tui_chat import ready

    db = paths.history_db()
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 50)
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        notes = [str(n.message) for n in app._notifications]
        assert sum("was damaged" in note for note in notes) == 1

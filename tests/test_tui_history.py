"""The History list: `medtui ask`'s answers kept apart from the chat's (a `source` column, old
rows migrated as the chat's), dates in the list and in the export with the model, index and
settings used, and a delete that asks first."""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import OptionList, Static

from medtui.chat.export import conversation_markdown
from medtui.core import paths
from medtui.core.config import Settings, answer_settings
from medtui.core.errors import MedtuiError
from medtui.core.history import History, stamp
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.confirm import ConfirmScreen
from tests.test_tui_chat import wait_for

SIZE = (140, 40)
OLD_SCHEMA = """
CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL, content TEXT NOT NULL, sources TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'complete', model TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
"""


def shown(widget) -> str:
    """What the widget draws, line by line."""
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, *widget.size)))


def titles(options: OptionList) -> list[str]:
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


def write_old_history(role: str, content: str, created: float) -> None:
    """A history database as the first release wrote it: one conversation, 'Old chat', one message."""
    path = paths.history_db()
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO conversations VALUES (1, 'Old chat', 'smollm2', 1700000000, 1700000100)")
    db.execute(
        "INSERT INTO messages(conversation_id, role, content, created) VALUES (1, ?, ?, ?)", (role, content, created)
    )
    db.commit()
    db.close()


def test_a_history_from_before_sources_opens_with_its_chats_as_the_apps(medtui_home):
    """A database written before `source`, `settings` and `sentences` existed is brought up to date."""
    write_old_history("user", "Hi?", 1700000000)
    history = History()
    (old,) = history.conversations()
    assert (old.title, old.source, old.settings, old.created) == ("Old chat", "tui", {}, 1700000000)
    assert history.conversations("cli") == [] and history.messages(1)[0].created == 1700000000
    new = history.new_conversation("New", "smollm2", "cli", {"index": "default"})
    assert [c.id for c in history.conversations("cli")] == [new]


def test_medtui_ask_records_its_answer_as_the_clis_with_its_settings(medtui_home):
    medtui = str(Path(sys.executable).with_name("medtui"))
    result = subprocess.run(
        [medtui, "ask", "What is gout?", "--no-rag", "--max-tokens", "4", "--temperature", "0"],
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()
    (conversation,) = History().conversations()
    assert conversation.source == "cli" and conversation.title == "What is gout?"
    assert conversation.settings["rag"] is False and conversation.settings["temperature"] == 0.0
    assert conversation.settings["index"] == "default"


async def test_the_list_shows_dates_keeps_cli_answers_apart_and_exports_with_what_answered(medtui_home):
    history = History()
    chat = history.new_conversation("What is gout?", "smollm2", "tui", answer_settings(Settings(top_k=3)))
    history.add_message(chat, "user", "What is gout?")
    history.add_message(chat, "assistant", "A form of arthritis.", model="smollm2")
    asked = history.new_conversation("What is gout?", "smollm2", "cli", answer_settings(Settings(rag=False)))
    history.add_message(asked, "user", "What is gout?")
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        options = app.query_one("#history-list", OptionList)
        assert titles(options) == ["What is gout?"] and options.get_option_at_index(0).id == str(chat)
        drawn = shown(options)
        assert stamp(history.conversation(chat).updated) in drawn  # the date and time, on the screen
        assert "c: CLI answers" in str(app.query_one("#history-title", Static).render())
        options.focus()
        await pilot.press("c")  # the filter: `medtui ask`'s answers instead
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [str(asked)]
        assert "CLI answers" in str(app.query_one("#history-title", Static).render())
        await pilot.press("e")
        exported = list((medtui_home / "data" / "exports").glob("*.md"))
        assert [p.name for p in exported] == [f"{asked}-what-is-gout.md"]
        await pilot.press("c")
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [str(chat)]
    markdown = exported[0].read_text(encoding="utf-8")
    created = history.conversation(asked).created
    assert f"_Started {stamp(created)} · asked in `medtui ask` · model smollm2 · retrieval off" in markdown
    assert f"## Question · {stamp(history.messages(asked)[0].created)}" in markdown
    chat_markdown = conversation_markdown(history, chat)
    assert "asked in the chat app · model smollm2 · index default, hybrid search configured, top-k 3" in chat_markdown
    assert f"## Answer — smollm2 · {stamp(history.messages(chat)[1].created)}" in chat_markdown
    assert time.strftime("%Y-%m-%d", time.localtime(created)) in stamp(created)


async def test_delete_asks_first_and_no_keeps_the_conversation(medtui_home):
    history = History()
    keep = history.new_conversation("Kidneys", "smollm2")
    history.add_message(keep, "user", "What is nephritis?")
    gone = history.new_conversation("Eyes", "smollm2")
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        options = app.query_one("#history-list", OptionList)
        options.focus()
        await pilot.press("d")  # highlighted: Eyes, the newest
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Delete “Eyes”" in str(app.screen.query_one("#question", Static).render())
        await pilot.press("n")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)
        assert {c.id for c in History().conversations()} == {keep, gone}
        await pilot.press("down", "d")  # Kidneys; Enter on the focused Cancel button keeps it too
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert {c.id for c in History().conversations()} == {keep, gone}
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: [c.id for c in History().conversations()] == [gone])
        assert History().messages(keep) == []  # gone from the database, messages too
        assert titles(options) == ["Eyes"]


def test_a_conversation_source_must_be_known(medtui_home):
    with pytest.raises(MedtuiError, match="source 'web' is not known"):
        History().new_conversation("x", source="web")

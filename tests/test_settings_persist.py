"""F2's choices and the chosen model outlast a restart (config.toml, the user's comments kept;
MEDTUI_* variables still win and never land in the file), and each F2 switch says on or off in
words, for a terminal that shows no colour."""

import pytest
import tomllib
from textual.widgets import Input, Static, Switch

from medtui.core import paths
from medtui.core.config import load_settings, save_settings
from medtui.core.errors import MedtuiError
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.retrieval_settings import RetrievalSettings
from tests.test_tui_chat import wait_for

SIZE = (140, 40)
USER_FILE = '# my own notes\nn_ctx = 2048  # the laptop is small\nrag = false\n\n[keys]\ncancel = "ctrl+c"\n'


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def open_f2(pilot, app) -> RetrievalSettings:
    await wait_for(pilot, lambda: app.engine is not None)
    await pilot.press("f2")
    await wait_for(pilot, lambda: isinstance(app.screen, RetrievalSettings))
    return app.screen


async def test_f2_choices_are_saved_to_config_toml_and_come_back_after_a_restart():
    config = paths.config_file()
    config.parent.mkdir(parents=True)
    config.write_text(USER_FILE, encoding="utf-8")
    app = MedtuiApp(load_settings())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_f2(pilot, app)
        assert str(config) in text(screen, "#saved-to")  # F2 says where its choices go
        assert text(screen, "#bm25-state") == "[x] on"
        bm25 = screen.query_one("#bm25", Switch)
        bm25.focus()
        await pilot.press("space")
        assert text(screen, "#bm25-state") == "[ ] off"  # the state in words, not only in colour
        top_k = screen.query_one("#top-k", Input)
        top_k.value = "7"
        top_k.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, RetrievalSettings))
        assert app.top_k == 7 and not app.settings.bm25
        assert any(f"saved to {config}" in n.message for n in app._notifications)
    saved = config.read_text(encoding="utf-8")
    assert saved.startswith("# my own notes\nn_ctx = 2048  # the laptop is small\n")  # the user's lines stay
    assert tomllib.loads(saved) == {
        "n_ctx": 2048,
        "rag": False,
        "top_k": 7,
        "bm25": False,
        "keys": {"cancel": "ctrl+c"},
    }

    restarted = MedtuiApp(load_settings())  # what `medtui` does on the next start
    async with restarted.run_test(size=SIZE) as pilot:
        assert restarted.top_k == 7 and not restarted.settings.bm25 and not restarted.rag
        screen = await open_f2(pilot, restarted)
        assert screen.query_one("#top-k", Input).value == "7"
        assert text(screen, "#bm25-state") == "[ ] off" and text(screen, "#dense-state") == "[x] on"


async def test_an_environment_override_wins_and_is_never_written(monkeypatch):
    config = paths.config_file()
    save_settings({"top_k": 6})
    monkeypatch.setenv("MEDTUI_TOP_K", "3")
    monkeypatch.setenv("MEDTUI_TEMPERATURE", "0.9")
    app = MedtuiApp(load_settings().replace(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        assert app.top_k == 3  # the variable wins over the file
        screen = await open_f2(pilot, app)
        screen.query_one("#top-k", Input).value = "9"
        screen.query_one("#require-sources", Switch).value = True
        await pilot.pause(0.1)
        assert text(screen, "#require-sources-state") == "[x] on"
        screen.query_one("#apply").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, RetrievalSettings))
        assert app.top_k == 9  # applied for this session
        assert any("top_k (MEDTUI_TOP_K)" in n.message for n in app._notifications)
    assert tomllib.loads(config.read_text(encoding="utf-8")) == {"top_k": 6, "require_sources": True}
    assert load_settings().top_k == 3
    monkeypatch.delenv("MEDTUI_TOP_K")
    assert load_settings().top_k == 6 and load_settings().require_sources


def test_the_chosen_model_is_saved_with_a_header_and_privately():
    saved = save_settings({"model": "smollm2-sft"})
    assert saved.written == ("model",) and saved.path == paths.config_file()
    written = saved.path.read_text(encoding="utf-8")
    assert written.startswith("# medtui settings") and 'model = "smollm2-sft"' in written
    assert saved.path.stat().st_mode & 0o077 == 0
    assert load_settings().model == "smollm2-sft"
    assert save_settings({"model": "smollm2-sft"}).written == ()  # unchanged: the file is not rewritten


def test_saving_into_a_broken_file_or_an_unknown_key_is_one_line():
    with pytest.raises(MedtuiError, match="cannot be saved"):
        save_settings({"colour": "blue"})
    with pytest.raises(MedtuiError, match="out of range"):
        save_settings({"top_k": 99})
    paths.config_file().parent.mkdir(parents=True)
    paths.config_file().write_text("top_k = = 3\n", encoding="utf-8")
    with pytest.raises(MedtuiError, match="invalid TOML") as error:
        save_settings({"top_k": 5})
    assert "\n" not in str(error.value)

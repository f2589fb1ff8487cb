"""Issue 17: the layout at 80×24, 100×30, 160×48 and 240×60, held by snapshots (pytest-textual-snapshot),
so a layout regression fails the tests. `--snapshot-update` rewrites tests/__snapshots__/ after a
change that is meant; look at the SVGs (or the HTML report a failure writes) before committing them.

Each snapshot shows a fixed state: a real app with the real embedded model, loaded before the
picture is taken; retrieval off and no index built, so nothing builds in the background; the
config and data folders relative to the test's folder, so no temporary path is printed; no toast,
no blinking cursor and no animation."""

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input

from medtui.core.config import Settings
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.train_screen import TrainScreen
from medtui.tui.widgets.history.history_sidebar import HistorySidebar
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from medtui.tui.widgets.train.train_form import TrainForm
from tests.test_tui_chat import wait_for

SIZES = [(80, 24), (100, 30), (160, 48), (240, 60)]
SCREENS = {"chat": None, "retrieval": "f2", "benchmarks": "f4", "train": "f5"}


@pytest.fixture
def fixed_home(medtui_home, monkeypatch):
    """Relative folders inside the test's own folder: screens that name them (F2's "Apply saves
    your changes to config/config.toml") print the same path on every machine."""
    monkeypatch.chdir(medtui_home)
    monkeypatch.setenv("MEDTUI_CONFIG_DIR", "config")
    monkeypatch.setenv("MEDTUI_DATA_DIR", "data")
    monkeypatch.setenv("MEDTUI_INDEXES_DIR", "indexes")


def settled(key: str | None):
    """run_before: the model loaded and its toast gone, then the screen opened, its cursors still."""

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.engine is not None, timeout=120)
        await pilot.pause(0.2)
        app.clear_notifications()
        if key:
            await pilot.press(key)
            await pilot.pause(0.3)
        for box in app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause(0.2)

    return run_before


def quiet_app() -> MedtuiApp:
    app = MedtuiApp(Settings(rag=False))
    app.animation_level = "none"  # an indeterminate progress bar stands still
    return app


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_layout_snapshot(screen, size, snap_compare, fixed_home):
    assert snap_compare(quiet_app(), terminal_size=size, run_before=settled(SCREENS[screen]))


def fields_off_the_right_edge(app: MedtuiApp) -> list[str]:
    """Every input, pick list, switch and button of the screen on top that does not end inside it."""
    right = app.screen.region.right
    return [
        f"#{w.id} ends at column {w.region.right}"
        for w in app.screen.query("Input, Select, Switch, Button")
        if w.display and w.region.right > right
    ]


async def test_at_100x30_the_answer_has_the_width_and_the_train_form_fits():
    """Fixed-width side panels left the answer ~32 columns at 100×30 and F5's form ran off the right edge."""
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        assert app.query_one("#conversation").region.width >= 60
        panels = (app.query_one(HistorySidebar), app.query_one(SourcesPanel))
        shown = lambda: [type(w).__name__ for w in panels if w.region.width]
        await pilot.press("ctrl+b")  # the side panels stay reachable, one at a time over the answer
        await pilot.pause(0.2)
        assert shown() == ["SourcesPanel"] and app.query_one(SourcesPanel).region.width < 100
        await pilot.press("ctrl+b")
        await pilot.pause(0.2)
        assert shown() == ["HistorySidebar"]
        await pilot.press("ctrl+b")
        await pilot.pause(0.2)
        assert shown() == []
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen), timeout=10)
        await pilot.pause(0.3)
        assert fields_off_the_right_edge(app) == []
        start = app.screen.query_one(TrainForm).query_one("#start", Button)
        start.scroll_visible(animate=False)
        await pilot.pause(0.2)
        assert app.screen.region.contains_region(start.region), start.region


@pytest.mark.parametrize("key", ["f2", "f4", "f5"])
async def test_at_80x24_every_field_of_the_forms_is_inside_the_right_edge(key):
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.screen
        await pilot.press(key)
        await wait_for(pilot, lambda: app.screen is not chat, timeout=10)
        await pilot.pause(0.3)
        assert fields_off_the_right_edge(app) == []

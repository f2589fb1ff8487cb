"""The ctrl+o switcher in a small terminal: what a pull says stays in view."""

import pytest
from textual.widgets import OptionList, Static

from medtui.core.registry import Registry
from medtui.tui.screens.switcher import PULL
from tests.test_models_pull import Host, hub_cache, offline_hub  # noqa: F401  (fixtures)
from tests.test_tui_chat import wait_for


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=["80x24", "100x30"])
async def test_a_failed_pull_says_why_inside_the_dialog_at_small_sizes(offline_hub, size):
    """Offline, picking a catalogue model not in the cache failed with a one-line reason written
    under the list, which filled the dialog: at 100x30 nothing seemed to happen."""
    app = Host()
    async with app.run_test(size=size) as pilot:
        models = app.screen.query_one(OptionList)
        ids = [models.get_option_at_index(i).id for i in range(models.option_count)]
        absent = next(i for i in ids if i.startswith(PULL) and i != PULL + "deepseek-r1-distill-qwen-1.5b")
        models.focus()
        models.highlighted = ids.index(absent)
        await pilot.press("enter")
        status = app.screen.query_one("#pull-status", Static)
        await wait_for(pilot, lambda: "cannot load" in str(status.render()), timeout=30)
        await pilot.pause(0.2)
        dialog = status.parent.region
        assert status.region.height >= 2 and dialog.contains_region(status.region), (status.region, dialog)
        box = status.content_region
        needed = status.get_content_height(box.size, app.size, box.width)
        assert needed <= box.height, (needed, box)  # whole: the by-hand command at its end too
        assert status.region.bottom <= size[1] - 1  # above the footer
        assert not app.chosen and absent[len(PULL) :] not in {s.name for s in Registry().all()}

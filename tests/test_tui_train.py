"""The training screen driven by Pilot: preview and estimate a run, start it as a detached
process, watch it finish in the monitor with its loss curve, and see it registered."""

import json
from pathlib import Path

from textual.widgets import Input, Select, Static, TabbedContent

from medtui.core.config import Settings
from medtui.core.registry import Registry
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.train_screen import TrainScreen
from medtui.tui.widgets.train.loss_chart import LossChart
from medtui.tui.widgets.train.runs_table import RunsTable
from tests.test_tui_chat import ready, wait_for
from trainers.runs import list_runs


def _rows(folder: Path) -> Path:
    path = folder / "sft.jsonl"
    rows = [
        {
            "Question": f"What does vitamin {v} deficiency cause?",
            "Complex_CoT": f"Vitamin {v} is needed for {use}.",
            "Response": f"Deficiency of vitamin {v} causes {disease}.",
        }
        for v, use, disease in [
            ("C", "collagen", "scurvy"),
            ("D", "bone mineralisation", "rickets"),
            ("B1", "glucose metabolism", "beriberi"),
            ("B3", "NAD synthesis", "pellagra"),
        ]
        * 3
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_wizard_previews_estimates_starts_and_monitors_a_run(tiny_hf_model, tmp_path):
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(170, 50)) as pilot:
        await ready(pilot, app)
        await pilot.press("f5")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        screen.query_one("#model", Input).value = str(tiny_hf_model)
        screen.query_one("#data", Input).value = str(_rows(tmp_path))
        screen.query_one("#name", Input).value = "vitamins"
        screen.query_one("#max_steps", Input).value = "4"
        screen.query_one("#batch_size", Input).value = "2"
        screen.query_one("#grad_accum", Input).value = "1"
        screen.query_one("#lr", Input).value = "0.002"

        await pilot.click("#preview")
        await wait_for(pilot, lambda: "example 1" in _text(screen, "#output-text"))
        preview = _text(screen, "#output-text")
        assert "What does vitamin C deficiency cause?" in preview and "<think>" in preview
        assert "prompt tokens (no loss)" in preview and "learned" in preview

        await pilot.click("#estimate")
        await wait_for(pilot, lambda: "steps" in _text(screen, "#output-text"))
        estimate = _text(screen, "#output-text")
        assert "rows kept" in estimate and "4 steps" in estimate and "GiB" in estimate and "TFLOP/s" in estimate

        screen.query_one("#max_steps", Input).value = "x"
        await pilot.click("#start")
        await pilot.pause(0.2)
        assert not list_runs()  # a bad value starts nothing
        screen.query_one("#max_steps", Input).value = "4"
        await pilot.click("#start")
        await wait_for(pilot, lambda: screen.query_one(TabbedContent).active == "runs", timeout=30)
        table = screen.query_one(RunsTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert str(table.get_row_at(0)[0]) == "vitamins"
        # The worker is a separate process; the monitor follows it through the run folder.
        await wait_for(pilot, lambda: "complete" in _text(screen, "#run-status"), timeout=240)
        status = _text(screen, "#run-status")
        assert "loss " in status and "model 'vitamins'" in status
        chart = screen.query_one(LossChart)
        assert "train" in str(chart.render())
        assert str(table.get_row_at(0)[4]) == "4/4"
        assert Registry().get("vitamins").adapter == str(list_runs()[0].adapter)

        await pilot.press("escape")
        assert not isinstance(app.screen, TrainScreen)


async def test_wizard_reports_bad_input_in_one_line(tiny_hf_model, tmp_path):
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(170, 50)) as pilot:
        await ready(pilot, app)
        await pilot.press("f5")
        screen = app.screen
        screen.query_one("#model", Input).value = str(tiny_hf_model)
        screen.query_one("#method", Select).value = "cpt"
        await pilot.click("#preview")
        await pilot.pause(0.2)
        assert "needs a corpus" in "\n".join(n.message for n in app._notifications)
        screen.query_one("#corpus", Input).value = str(tmp_path / "missing.txt")
        await pilot.click("#preview")
        await wait_for(pilot, lambda: "missing.txt" in _text(screen, "#output-text"))
        assert _text(screen, "#output-text").startswith("preview: ")
        assert not list_runs()


async def open_monitor(pilot, app: MedtuiApp) -> TrainScreen:
    """F5, the Runs tab, keys on the runs table (x stops, r resumes)."""
    await ready(pilot, app)
    await pilot.press("f5")
    screen = app.screen
    screen.query_one(TabbedContent).active = "runs"
    screen.query_one(RunsTable).focus()
    return screen


async def test_monitor_resumes_a_run_whose_process_is_gone(tiny_hf_model, tmp_path):
    from trainers.config import TrainConfig
    from trainers.runs import create_run

    config = TrainConfig(
        method="sft",
        model=str(tiny_hf_model),
        data=str(_rows(tmp_path)),
        name="orphan",
        max_steps=2,
        batch_size=2,
        grad_accum=1,
    )
    create_run(config)  # a folder marked running with no process: what a crash or a reboot leaves
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(170, 50)) as pilot:
        screen = await open_monitor(pilot, app)
        await wait_for(pilot, lambda: "stopped (r resumes)" in _text(screen, "#run-status"))
        await pilot.press("x")
        await pilot.pause(0.1)
        assert "orphan is not running" in "\n".join(n.message for n in app._notifications)
        await pilot.press("r")
        await wait_for(pilot, lambda: "complete" in _text(screen, "#run-status"), timeout=240)
        assert Registry().get("orphan").adapter == str(list_runs()[0].adapter)


async def test_monitor_stops_a_live_run_with_a_checkpoint_and_resumes_it(tiny_hf_model, tmp_path):
    from trainers import api

    steps = 20  # about a second each here: still running when x lands, even on a much faster machine
    config = api.TrainConfig(
        method="sft",
        model=str(tiny_hf_model),
        data=str(_rows(tmp_path)),
        name="live",
        max_steps=steps,
        batch_size=2,
        grad_accum=1,
        save_steps=1000,
    )
    [started] = api.start(config, detach=True)
    assert isinstance(started, api.Started) and started.detached and started.run.info.pid == started.pid
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(170, 50)) as pilot:
        screen = await open_monitor(pilot, app)
        table = screen.query_one(RunsTable)
        await wait_for(
            pilot,
            lambda: table.row_count == 1 and str(table.get_row_at(0)[4]).split("/")[0] not in ("", "0"),
            timeout=120,
        )
        await pilot.press("x")
        await wait_for(pilot, lambda: "cancelled" in _text(screen, "#run-status"), timeout=120)
        run = list_runs()[0]
        stopped_at = int(str(table.get_row_at(0)[4]).split("/")[0])
        assert 0 < stopped_at < steps
        assert [p.name for p in (run.dir / "checkpoints").glob("checkpoint-*")] == [
            f"checkpoint-{stopped_at}"
        ]  # saved on the way out

        await wait_for(pilot, lambda: not api.status(run.dir).alive, timeout=60)  # marked cancelled, then exits
        await pilot.press("r")
        await wait_for(pilot, lambda: "complete" in _text(screen, "#run-status"), timeout=300)
        assert str(table.get_row_at(0)[4]) == f"{steps}/{steps}"
        assert Registry().get("live").adapter == str(list_runs()[0].adapter)


async def test_monitor_says_which_run_folder_it_cannot_read(tiny_hf_model, tmp_path):
    import json

    from trainers import api
    from trainers.runs import RunInfo, run_dir

    config = api.TrainConfig(method="sft", model=str(tiny_hf_model), data=str(_rows(tmp_path)), name="odd")
    info = RunInfo(config, api.RunStatus.COMPLETE, created=1.0, updated=1.0).to_json()
    run_dir("odd").mkdir(parents=True)
    (run_dir("odd") / "run.json").write_text(json.dumps({**info, "status": "paused"}), encoding="utf-8")
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(170, 50)) as pilot:
        screen = await open_monitor(pilot, app)
        await pilot.pause(1.5)  # a refresh or two: the warning is given once
        warnings = [n.message for n in app._notifications if "odd" in n.message]
        assert len(warnings) == 1 and "status 'paused' is not one of running" in warnings[0]
        assert screen.query_one(RunsTable).row_count == 0 and "no run selected" in _text(screen, "#run-status")

"""The export screen driven by Pilot: F6, pick the tiny model, export f16, read the verification."""

from textual.widgets import DataTable, Select, Static

from medtui.core.config import Settings
from medtui.core.registry import Registry, spec_from_source
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.export_screen import ExportScreen
from tests.test_tui_chat import ready, wait_for


async def test_export_screen_exports_verifies_and_registers(tiny_hf_model):
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("f6")
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        await pilot.click("#export")
        await pilot.pause(0.1)
        assert not screen.running  # nothing picked yet: refused with a notification
        screen.query_one("#source", Select).value = "tiny"
        screen.query_one("#quant", Select).value = "f16"
        await pilot.click("#export")
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1 and not screen.running, timeout=240)
        name, quant, top1, *_, template, verdict = (str(c) for c in table.get_row_at(0))
        assert (name, quant, template, verdict) == ("tiny-f16", "f16", "same", "passed")
        assert "registered tiny-f16" in str(screen.query_one("#stage", Static).render())
        assert any(s.name == "tiny-f16" and s.kind == "gguf" for s in Registry().all())
        assert any("exported and registered tiny-f16" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        assert not isinstance(app.screen, ExportScreen)


async def test_escape_during_conversion_stops_and_leaves_nothing(tiny_hf_model, gate, monkeypatch):
    from export.pipeline import export_model, exports_dir
    from medtui.tui.screens import export_screen

    def held_export(request, progress, cancel):  # hold the worker once llama.cpp's converter is running
        return export_model(request, gate.hold(progress, lambda stage, *_: stage == "convert"), cancel)

    monkeypatch.setattr(export_screen, "export_model", held_export)
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("f6")
        screen = app.screen
        screen.query_one("#source", Select).value = "tiny"
        screen.query_one("#quant", Select).value = "f16"
        await pilot.click("#export")
        stage = screen.query_one("#stage", Static)
        await wait_for(pilot, lambda: str(stage.render()).startswith("convert: "))
        assert (exports_dir() / "tiny-f16.partial").is_dir()  # work in progress lives apart from finished exports
        await pilot.press("escape")
        gate.open()
        await wait_for(pilot, lambda: not screen.running)
        assert str(stage.render()) == "stopped: nothing was registered"
        assert not any(s.name == "tiny-f16" for s in Registry().all()) and not list(exports_dir().iterdir())
        assert isinstance(app.screen, ExportScreen)  # the first Esc stops the export, not the screen

        await pilot.click("#export")  # a stopped export does not stand in the way of the next one
        await wait_for(pilot, lambda: screen.query_one(DataTable).row_count == 1 and not screen.running, timeout=240)
        assert any(s.name == "tiny-f16" for s in Registry().all())

"""Pilot tests for indexes in the chat: add one with progress, cancel and resume it, use it,
and switch retrievers; the sources panel shows each retriever's score."""

import json
import time

from textual.widgets import DataTable, Input, Static, Switch

from medtui.core.rag.index import SnippetIndex
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.indexes import IndexesScreen
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from tests.test_tui_chat import ready, wait_for
from tests.test_tui_screens import SIZE, ask


def status(app) -> str:
    return str(app.query_one("#status", Static).render())


def notified(app, fragment: str) -> bool:
    return any(fragment in n.message for n in app._notifications)


async def add_index(pilot, app, name: str, source: str) -> None:
    await pilot.press("f3")
    assert isinstance(app.screen, IndexesScreen)
    await pilot.press("a")
    await pilot.press(*name, "enter")
    app.screen.query_one("#new-source", Input).value = source
    await pilot.press("enter")


async def test_add_cancel_resume_and_use_an_index(default_index, fast_settings, bioasq_jsonl, tmp_path, gate):
    rows = bioasq_jsonl.read_text().splitlines()[:300]
    source = tmp_path / "pubmed_snippets.jsonl"
    source.write_text("\n".join(rows) + "\n")
    app = MedtuiApp(fast_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        reporter, started = app._index_progress, []

        def mid_run(done: int, total: int) -> bool:  # once snippets/s and an ETA can show
            started.append(time.monotonic())
            return 0 < done < total and started[-1] - started[0] > 0.6

        app._index_progress = lambda name: gate.hold(reporter(name), mid_run)
        await add_index(pilot, app, "pubmed", str(source))
        seen: list[str] = []
        await wait_for(pilot, lambda: seen.append(status(app)) or "snippets · " in seen[-1] and "/s" in seen[-1])
        assert "indexing pubmed:" in seen[-1] and "/300 snippets" in seen[-1] and "ETA" in seen[-1]
        await pilot.press("escape")
        gate.open()
        await wait_for(pilot, lambda: notified(app, "stopped after"))
        # the keyword phase takes a second, so the stop lands in the dense phase: served with BM25 meanwhile
        assert SnippetIndex("pubmed").manifest().state == "keyword"

        await pilot.press("f3")
        table = app.screen.query_one(DataTable)
        names = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        row = names.index("pubmed")
        assert "default" in names and str(table.get_row_at(row)[3]) == "keyword"
        assert str(table.get_row_at(names.index("default"))[0]) == "●"  # the one in use
        table.move_cursor(row=row)
        await pilot.press("r")
        await wait_for(pilot, lambda: notified(app, "index pubmed ready: 300 snippets"))

        await pilot.press("f3")
        app.screen.query_one(DataTable).move_cursor(row=row)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.retriever is not None and app.retriever.index.name == "pubmed")
        assert "RAG hybrid" in status(app) and "index pubmed" in status(app)
        first = json.loads(rows[0])
        await ask(pilot, app, first["text"][:120])
        records = app.query_one(SourcesPanel).records
        assert records[0]["id"] == f"pubmed_snippets.jsonl:{first['id']}#0"  # rows are chunked unless --whole
        assert set(records[0]["scores"]) == {"dense", "bm25", "bm25n", "rrf"}
        label = str(app.query_one("#sources-list").get_option_at_index(0).prompt)
        assert "dense " in label and "bm25 " in label and "rrf " in label

        await pilot.press("f2")
        app.screen.query_one("#bm25", Switch).value = False
        app.screen.query_one("#top-k", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.retriever is not None and not app.retriever.options.bm25)
        assert "RAG dense" in status(app)
        await ask(pilot, app, "What is the role of PD-L1 testing?")
        # dense ranks alone; BM25 still scores each candidate for the relevance gate
        assert all(set(r["scores"]) == {"dense", "bm25", "bm25n"} for r in app.query_one(SourcesPanel).records)


async def test_a_mistyped_source_is_said_at_once_and_the_form_keeps_what_was_typed(tmp_path):
    """The form closed on Enter and the error came later, as a toast, with both fields lost."""
    from medtui.core.config import Settings

    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        await add_index(pilot, app, "mynotes", str(tmp_path / "nonexistent.jsonl"))
        await pilot.pause(0.2)
        assert isinstance(app.screen, IndexesScreen)
        assert app.screen.query_one("#new-name", Input).value == "mynotes"
        assert app.screen.query_one("#new-source", Input).value.endswith("nonexistent.jsonl")
        assert notified(app, "nonexistent.jsonl: no such file or folder")
        hint = str(app.screen.query_one(".hint", Static).render())
        assert all(name in hint for name in ("default", "guidelines", "pubmedqa", "hpo")), hint

"""The chat screen driven by Textual's Pilot with the real SmolLM2 GGUF and the real index."""

import asyncio

from medtui.core.history import History
from medtui.tui.app import MedtuiApp
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.sources.sources_panel import SourcesPanel


async def wait_for(pilot, condition, timeout: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.1)


async def ready(pilot, app: MedtuiApp) -> None:
    await wait_for(pilot, lambda: app.engine is not None and (not app.rag or app.retriever is not None))


async def test_question_streams_answer_with_sources_and_is_saved(default_index, fast_settings):
    app = MedtuiApp(fast_settings)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press(*"What is nephritis?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.query(AnswerView) and not app.generating)
        await pilot.pause(0.2)
        answer = app.query_one(AnswerView)
        assert answer.answer_text.strip()
        panel = app.query_one(SourcesPanel)
        assert 1 <= len(panel.records) <= fast_settings.top_k  # those the relevance gate passed, one per document
        assert all(r["title"] and r["text"] for r in panel.records)
        messages = History().messages(app.conversation_id)
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[0].content == "What is nephritis?"
        assert messages[1].content == answer.text
        assert messages[1].status in ("complete", "cut")  # 24 tokens may cut it
        assert [s["title"] for s in messages[1].sources] == [r["title"] for r in panel.records]

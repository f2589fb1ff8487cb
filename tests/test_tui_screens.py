"""Pilot tests for the chat's other screens: passages, switcher, history, reasoning, settings, keys."""

from textual.widgets import Collapsible, Input, OptionList, Static

from medtui.core.config import Settings
from medtui.core.history import History
from medtui.core.registry import Registry, spec_from_source
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.passage import PassageScreen
from medtui.tui.screens.switcher import ModelSwitcher
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from tests.test_tui_chat import ready, wait_for

SIZE = (140, 40)


async def ask(pilot, app, question: str) -> None:
    before = len(app.query(AnswerView))
    app.query_one("#prompt", Input).focus()
    await pilot.press(*question)
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(app.query(AnswerView)) == before + 1 and not app.generating)
    await pilot.pause(0.2)


async def test_selecting_a_citation_opens_the_full_passage(default_index, fast_settings):
    app = MedtuiApp(fast_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await ask(pilot, app, "What is blepharitis?")
        records = app.query_one(SourcesPanel).records
        assert records
        options = app.query_one("#sources-list", OptionList)
        options.focus()
        await pilot.press(*["down"] * len(records))
        chosen = records[options.highlighted]
        assert chosen is records[-1]
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PassageScreen)
        shown = str(app.screen.query_one("#passage-text", Static).render())
        assert shown.split()[:5] == chosen["text"].split()[:5]
        meta = str(app.screen.query_one("#passage-meta", Static).render())
        assert chosen["source"] in meta and chosen["reference"] in meta
        await pilot.press("escape")
        assert not isinstance(app.screen, PassageScreen)


async def test_switcher_loads_another_model_in_a_worker(tiny_hf_model):
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert app.engine.spec.name == "smollm2"
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ModelSwitcher)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.engine.spec.name == "tiny")
        assert "tiny" in str(app.query_one("#status", Static).render())
        await ask(pilot, app, "Hello?")
        assert History().messages(app.conversation_id)[-1].model == "tiny"


async def test_escape_stops_a_long_answer_and_keeps_what_was_shown():
    app = MedtuiApp(Settings(rag=False, max_tokens=2000, temperature=0.7))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press(*"Write a long essay about the history of medicine.")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: app.generating and app.query(AnswerView) and len(app.query_one(AnswerView).text) > 20
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.generating, timeout=30)
        view = app.query_one(AnswerView)
        saved = History().messages(app.conversation_id)[-1]
        assert saved.status == "cancelled"
        assert saved.content == view.text and len(saved.content) > 20


async def test_history_reopen_rename_delete_export_and_collapsed_reasoning(medtui_home):
    history = History()
    first = history.new_conversation("Kidneys", "smollm2")
    history.add_message(first, "user", "What is nephritis?")
    history.add_message(
        first,
        "assistant",
        "Looking at [1].\n</think>\nInflammation of the kidney [1].",
        [
            {
                "n": 1,
                "id": "hpo:1",
                "title": "Nephritis",
                "source": "hpo",
                "text": "Kidney inflammation.",
                "score": 0.5,
                "scores": {"dense": 0.5},
            }
        ],
        model="smollm2",
    )
    second = history.new_conversation("Eyes", "smollm2")
    history.add_message(second, "user", "What is blepharitis?")
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        sidebar_list = app.query_one("#history-list", OptionList)
        assert [str(sidebar_list.get_option_at_index(i).prompt) for i in range(sidebar_list.option_count)] == [
            "Eyes",
            "Kidneys",
        ]
        sidebar_list.focus()
        await pilot.press("down", "enter")
        await pilot.pause(0.2)
        assert app.conversation_id == first
        view = app.query_one(AnswerView)
        assert view.answer_text == "Inflammation of the kidney [1]." and view.reasoning_text == "Looking at [1]."
        collapsible = view.query_one(Collapsible)
        assert collapsible.collapsed and collapsible.display
        await pilot.press("ctrl+t")
        assert not collapsible.collapsed
        assert app.query_one(SourcesPanel).records[0]["title"] == "Nephritis"
        # rename
        sidebar_list.focus()
        await pilot.press("r")
        await pilot.pause(0.1)
        title_input = app.screen.query_one("#title", Input)
        title_input.value = "Renal inflammation"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert History().conversation(first).title == "Renal inflammation"
        # export
        sidebar_list.focus()
        await pilot.press("e")
        exported = list((medtui_home / "data" / "exports").glob("*.md"))
        assert len(exported) == 1
        markdown = exported[0].read_text()
        assert "# Renal inflammation" in markdown and "Inflammation of the kidney [1]." in markdown
        assert "<summary>Reasoning</summary>" in markdown and "1. Nephritis (hpo, `hpo:1`)" in markdown
        # delete
        await pilot.press("d", "y")  # y: d asks first (tests/test_tui_history.py)
        await pilot.pause(0.1)
        assert [c.id for c in History().conversations()] == [second]
        assert app.conversation_id is None and not app.query(AnswerView)


async def test_rag_toggle_top_k_and_empty_question(default_index, fast_settings):
    app = MedtuiApp(fast_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")  # empty question
        await pilot.pause(0.1)
        assert any("the question is empty" in n.message for n in app._notifications)
        await pilot.press("f2")
        top_k = app.screen.query_one("#top-k", Input)
        top_k.value = "2"
        top_k.focus()
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.top_k == 2
        await ask(pilot, app, "What is ptosis?")
        assert len(app.query_one(SourcesPanel).records) == 2
        await pilot.press("ctrl+r")
        assert not app.rag
        await ask(pilot, app, "And how is it treated?")
        assert app.query_one(SourcesPanel).records == []
        assert History().messages(app.conversation_id)[-1].sources == []


async def test_keybindings_are_remappable_from_config(tiny_hf_model):
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))
    app = MedtuiApp(Settings(rag=False, keys={"switch_model": "f5"}))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("ctrl+o")
        assert not isinstance(app.screen, ModelSwitcher)
        await pilot.press("f5")
        assert isinstance(app.screen, ModelSwitcher)


async def test_missing_index_and_broken_model_are_notifications_not_crashes(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + bytes(128))
    Registry().add(spec_from_source("broken", str(bad)))
    app = MedtuiApp(Settings(index="nowhere", max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: app.engine is not None and not any(w.group == "index" and w.is_running for w in app.workers)
        )
        assert any("index 'nowhere' not found" in n.message for n in app._notifications)
        await pilot.press(*"What is gout?", "enter")
        await pilot.pause(0.1)
        assert any("retrieval could not start (index 'nowhere' not found" in n.message for n in app._notifications)
        await pilot.press("ctrl+o")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: any(str(bad) in n.message for n in app._notifications))
        assert app.engine.spec.name == "smollm2"  # the working model stays loaded


async def test_question_too_long_for_the_context_is_refused_and_leaves_no_empty_chat():
    app = MedtuiApp(Settings(rag=False, n_ctx=256, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.query_one("#prompt", Input).value = "Explain the kidney. " * 100
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("shorten it" in n.message for n in app._notifications))
        await wait_for(pilot, lambda: not app.generating)
        assert History().conversations() == [] and app.conversation_id is None


async def test_retrieval_toggle_updates_the_sources_header_at_once_and_quit_is_in_the_footer():
    from textual.widgets import Footer

    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        title = app.query_one("#sources-title", Static)
        app.query_one(SourcesPanel).show([], rag=False)
        assert "retrieval is off" in str(title.render())
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        assert "retrieval is off" not in str(title.render())
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        assert "retrieval is off" in str(title.render())
        footer = app.query_one(Footer)
        keys = [item.description for item in footer.query("FooterKey")]
        assert "Quit" in keys
        await pilot.press("ctrl+q")
        await pilot.pause(0.1)
    assert app.return_code is not None

"""Attribution on screen: after an answer, each sentence carries its checked citations as links,
unsupported ones are marked, a citation opens its passage with the supporting span highlighted,
and a reopened conversation shows the same."""

from textual.widgets import Markdown, OptionList, Static

from medtui.chat.service import ChatService, Done, Sources, source_records
from medtui.core.config import Settings
from medtui.core.history import History
from medtui.core.rag.attribution import UNSUPPORTED, split_sentences
from medtui.core.records import MessageStatus
from medtui.core.wiring import open_engine, open_retriever
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.passage import PassageScreen
from medtui.tui.widgets.chat.answer_view import CHECKING, AnswerView
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from tests.test_tui_chat import ready, wait_for
from tests.test_tui_grounding import state
from tests.test_tui_screens import SIZE, ask

DIABETES = "What is the first-line drug treatment for type 2 diabetes?"


def highlighted_spans(screen: PassageScreen) -> list[str]:
    """The passage's styled stretches: its text is data (never markup), so only highlights style it."""
    content = screen.query_one("#passage-text", Static).render()
    return [content.plain[s.start : s.end] for s in content.spans]


async def test_an_answer_is_attributed_after_it_streams(default_index, fast_settings):
    app = MedtuiApp(fast_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await ask(pilot, app, DIABETES)
        view = app.query_one(AnswerView)
        await wait_for(pilot, lambda: view.sentences and not view.checking)
        assert CHECKING not in state(view)
        kept = History().messages(app.conversation_id)[-1].sentences
        assert [d["text"] for d in kept] == [s.text for s in view.sentences]
        panel = app.query_one(SourcesPanel)
        options = app.query_one("#sources-list", OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert labels and all("supports" in label for label in labels)  # each source says what it supports
        supporting = next((r for r in panel.records if r["supports"]), None)
        if supporting is not None:  # open it with the keyboard: its spans are highlighted
            options.focus()
            options.highlighted = supporting["n"] - 1
            await pilot.press("enter")
            await pilot.pause(0.1)
            assert isinstance(app.screen, PassageScreen) and highlighted_spans(app.screen)


async def test_marks_links_and_a_highlighted_span_in_a_reopened_answer(default_index, fast_settings):
    settings = Settings(max_tokens=24, temperature=0.0)
    service = ChatService(settings, open_engine(settings), History(), open_retriever(settings))
    conversation = service.history.new_conversation("Metformin check", "smollm2")
    events = list(service.answer(conversation, DIABETES))
    sources = next(e for e in events if isinstance(e, Sources))
    done = next(e for e in events if isinstance(e, Done))
    source = next(r for r in source_records(sources.hits) if "metformin" in r["text"].lower())
    copied = next(
        source["text"][a:b] for a, b in split_sentences(source["text"]) if "metformin" in source["text"][a:b].lower()
    )
    missing = len(sources.hits) + 2
    text = f"{copied} [{missing}]\nThe moon is made of green cheese and orbits Jupiter."
    service.history.update_message(done.message_id, text, MessageStatus.COMPLETE)
    sentences = service.attribute(Done(done.message_id, text, MessageStatus.COMPLETE), sources)
    assert sentences[0].sources[0] == source["n"]

    app = MedtuiApp(fast_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        sidebar = app.query_one("#history-list", OptionList)
        sidebar.focus()
        titles = [str(sidebar.get_option_at_index(i).prompt) for i in range(sidebar.option_count)]
        sidebar.highlighted = titles.index("Metformin check")
        await pilot.press("enter")
        await pilot.pause(0.3)
        view = app.query_one(AnswerView)
        shown = view.query_one(".answer", Markdown).source
        assert f"[{missing}]" not in shown  # the citation to a source that does not exist is gone
        assert f"cite:0:{source['n']}" in shown  # the checked citation is a link
        assert f"green cheese and orbits Jupiter. ⚠ *{UNSUPPORTED}*" in shown
        assert f"⚠ *cited {missing}, which does not exist (removed)*" in shown
        screen_text = " ".join(str(block.render()) for block in view.query(".answer *"))
        assert UNSUPPORTED in screen_text
        assert "1 of 2 sentences is supported by no source" in state(view)
        # selecting the citation (what a click on "[n]" runs) opens the passage, the copied span highlighted
        paragraph = next(b for b in view.query(".answer *") if hasattr(b, "action_link"))
        await paragraph.action_link(f"cite:0:{source['n']}")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PassageScreen)
        assert highlighted_spans(app.screen) == [copied]
        await pilot.press("escape")
        await pilot.pause(0.1)
        await paragraph.action_link("https://example.com/phishing")  # a model's own link opens nothing
        await pilot.pause(0.1)
        assert not isinstance(app.screen, PassageScreen)

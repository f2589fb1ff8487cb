"""Each answer keeps its own retrieval notices (keyword search only, nothing passed the gate): in
the history, in the Sources panel when its conversation is reopened and the answer selected, and
in its export; an answer without sources says why; an empty History list says so."""

from textual.widgets import OptionList, Static

from medtui.chat.export import conversation_markdown
from medtui.core.config import Settings, answer_settings
from medtui.core.history import History
from medtui.tui.app import MedtuiApp
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.chat.prompt_input import PromptInput
from tests.test_tui_chat import ready, wait_for
from tests.test_tui_grounding import CAR, recorded
from tests.test_tui_history import write_old_history
from tests.test_tui_polish import header, screen_lines, screen_text
from tests.test_tui_screens import SIZE, ask

KEYWORD_ONLY = (
    "keyword search only: dense search of default is not built yet (the chat builds it in the background; "
    "or run `medtui index rebuild default`)"
)
NO_SOURCE = "no source in default covers this question"


def gout_source() -> dict:
    """A source found by keyword search alone: it has a bm25 score only."""
    return {
        "n": 1,
        "id": "medlineplus:gout",
        "title": "Gout",
        "source": "medlineplus",
        "text": "Gout is an inflammatory arthritis caused by urate crystals.",
        "reference": "",
        "score": 3.2,
        "scores": {"bm25": 3.2},
    }


def sidebar_text(app: MedtuiApp) -> str:
    """The History sidebar's words as drawn (its 28 columns), wrapped lines joined."""
    return " ".join(" ".join(line[:27] for line in screen_lines(app)).split())


def three_answers(history: History) -> int:
    """A chat configured for hybrid search: a keyword-only answer, one nothing grounded, one with
    retrieval off."""
    conversation = history.new_conversation("Gout", "smollm2", "tui", answer_settings(Settings(top_k=4)))
    history.add_message(conversation, "user", "What causes gout?")
    history.add_message(
        conversation,
        "assistant",
        "Urate crystals [1].",
        [gout_source()],
        model="smollm2",
        notices=[KEYWORD_ONLY],
        rag=True,
    )
    history.add_message(conversation, "user", "What is the capital of France?")
    history.add_message(conversation, "assistant", "Paris.", model="smollm2", notices=[NO_SOURCE], rag=True)
    history.add_message(conversation, "user", "Say hello.")
    history.add_message(conversation, "assistant", "Hello.", model="smollm2", rag=False)
    return conversation


def test_the_history_keeps_each_answers_notices_and_reads_older_rows_as_none():
    write_old_history("assistant", "Hi.", 1)
    history = History()
    (old,) = history.messages(1)
    assert (old.notices, old.rag) == ([], None)
    keyword, capital, hello = [m for m in history.messages(three_answers(history)) if m.role == "assistant"]
    assert (keyword.notices, keyword.rag) == ([KEYWORD_ONLY], True)
    assert (capital.notices, capital.rag, capital.sources) == ([NO_SOURCE], True, [])
    assert (hello.notices, hello.rag) == ([], False)


def test_the_export_says_the_search_mode_was_configured_and_writes_each_answers_notices():
    history = History()
    markdown = conversation_markdown(history, three_answers(history))
    assert "index default, hybrid search configured, top-k 4" in markdown
    keyword = markdown.index("Urate crystals")
    assert markdown.index(f"_⚠ {KEYWORD_ONLY}_", keyword) < markdown.index("**Sources**", keyword)
    assert markdown.index(f"_⚠ {NO_SOURCE}_") < markdown.index("## Question", markdown.index("Paris."))
    assert markdown.count("⚠") == 2


async def test_a_reopened_answer_shows_its_own_notices_and_one_without_sources_says_why():
    conversation = three_answers(History())
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        options = app.query_one("#history-list", OptionList)
        options.focus()
        await pilot.press("enter")  # reopen the only conversation
        await wait_for(pilot, lambda: app.conversation_id == conversation and len(app.query(AnswerView)) == 3)
        app.query_one(PromptInput).focus()
        await pilot.press("up")  # the latest answer: retrieval was off for it
        await pilot.pause(0.1)
        assert "Sources of answer 3: retrieval was off" in header(app)
        await pilot.press("up")  # nothing passed the gate: the panel says so, not just "(0)"
        await pilot.pause(0.1)
        assert header(app) == f"Sources of answer 2 (0)\n⚠ {NO_SOURCE}"
        await pilot.press("up")  # answered with keyword search only
        await pilot.pause(0.1)
        assert header(app).startswith("Sources of answer 1 (1)\n⚠ keyword search only")
        assert "keyword search only" in screen_text(app)


async def test_a_live_answer_without_sources_keeps_its_notice_when_selected_and_reopened(default_index, fast_settings):
    app = MedtuiApp(fast_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await ask(pilot, app, CAR)
        (saved,) = [m for m in History().messages(app.conversation_id) if m.role == "assistant"]
        assert (saved.sources, saved.rag) == ([], True) and NO_SOURCE in saved.notices
        app.query_one(PromptInput).focus()
        await pilot.press("up")
        await pilot.pause(0.1)
        assert header(app).startswith(f"Sources of answer 1 (0)\n⚠ {NO_SOURCE}")
        conversation = app.conversation_id
        app.action_new_chat()
        await pilot.pause(0.1)
        assert header(app) == "Sources"
        app.open_conversation(conversation)
        await pilot.pause(0.1)
        assert header(app).startswith(f"Sources (0)\n⚠ {NO_SOURCE}")


async def test_an_empty_history_says_so_and_its_keys_say_there_is_nothing_to_act_on():
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SIZE) as pilot:
        sent = recorded(app)
        assert "no conversations yet: ask a question" in sidebar_text(app)
        app.query_one("#history-list", OptionList).focus()
        await wait_for(pilot, lambda: "c CLI answers" in screen_text(app), timeout=10)  # the footer's c
        await pilot.press("e", "r", "d")
        await pilot.pause(0.1)
        said = [m for m in sent if m.startswith("nothing to")]  # the model's loading speaks too
        assert said == [f"nothing to {verb}: the list is empty" for verb in ("export", "rename", "delete")]
        await pilot.press("c")  # `medtui ask`'s answers: the footer's c now goes back to the chats
        await wait_for(pilot, lambda: "c Chats" in screen_text(app), timeout=10)
        assert "c CLI answers" not in screen_text(app)
        assert "CLI answers · c: chats" in str(app.query_one("#history-title", Static).render())
        assert "no CLI answers yet" in sidebar_text(app)
        await pilot.press("c")
        await wait_for(pilot, lambda: "c CLI answers" in screen_text(app), timeout=10)
        assert "no conversations yet" in sidebar_text(app) and "c Chats" not in screen_text(app)

"""Issue 17, seen on screen at 160×48 and 100×30: the disclaimer always whole, the sources header
following the retrieval toggle, a welcome, quit in the footer, focus (sources list, switcher, a
question queued while an answer streams), the palette's entries, each answer's own sources, the
README's key table matching the footer and the palette; then, at 80 and 100 columns, every footer
key whole, a column between buttons side by side, and ctrl+b keeping the reader's place; then a
review at 80×24 and 100×30: the History list's own footer line, F6's form, F2's dialog above the
footer, no scrollbar in F4's and F5's footers, the screen commands in the palette over every screen."""

import asyncio
import re
from pathlib import Path

import pytest
from textual import events
from textual.command import CommandPalette
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, OptionList, Static

from medtui.chat.answer_record import DISCLAIMER
from medtui.core.config import Settings
from medtui.core.history import History
from medtui.tui.app import QUEUED, MedtuiApp
from medtui.tui.screens.passage import PassageScreen
from medtui.tui.screens.switcher import ModelSwitcher
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.chat.message_log import MessageLog
from medtui.tui.widgets.chat.prompt_input import PromptInput
from medtui.tui.widgets.chat.question_view import QuestionView
from medtui.tui.widgets.chat.welcome import EXAMPLES, Welcome
from medtui.tui.widgets.history.history_sidebar import HistorySidebar
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from tests.test_tui_chat import ready, wait_for

WIDE, NARROW = (160, 48), (100, 30)
README = Path(__file__).resolve().parents[1] / "README.md"


def screen_lines(app: MedtuiApp) -> list[str]:
    """What the terminal shows now, line by line (toasts and modal screens included)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app: MedtuiApp) -> str:
    return "\n".join(screen_lines(app))


def header(app: MedtuiApp) -> str:
    return str(app.query_one("#sources-title", Static).render())


def status(app: MedtuiApp) -> str:
    return str(app.query_one("#status", Static).render())


def source(n: int, title: str) -> dict:
    return {"n": n, "id": f"hpo:{n}", "title": title, "source": "hpo", "text": f"{title} text.", "score": 0.5}


def two_answers() -> int:
    """A saved conversation whose two answers have different sources."""
    history = History()
    conversation = history.new_conversation("Kidneys and eyes", "smollm2")
    history.add_message(conversation, "user", "What is nephritis?")
    history.add_message(
        conversation,
        "assistant",
        "Kidney inflammation [1].",
        [source(1, "Nephritis"), source(2, "Kidney")],
        model="smollm2",
    )
    history.add_message(conversation, "user", "What is ptosis?")
    history.add_message(conversation, "assistant", "A drooping eyelid [1].", [source(1, "Ptosis")], model="smollm2")
    return conversation


LONG = 1500


async def start_long_answer(pilot, app: MedtuiApp) -> None:
    """At temperature 0 this question runs to the LONG-token limit (about 20 s on 2 cores), so it is
    still streaming while a test types; 400 sampled tokens sometimes ended first on a quiet machine."""
    app.query_one(PromptInput).focus()
    await pilot.press(*"Write a long essay about the history of medicine.", "enter")
    await wait_for(pilot, lambda: app.generating and app.query(AnswerView) and len(app.query_one(AnswerView).text) > 5)


# 1 ------------------------------------------------------------------------------------------------
async def test_the_disclaimer_is_whole_on_its_own_line_while_an_answer_streams_and_toasts_show():
    app = MedtuiApp(Settings(rag=False, max_tokens=LONG, temperature=0.0))
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot, app)
        await start_long_answer(pilot, app)
        for size in (WIDE, NARROW):
            await pilot.resize_terminal(*size)
            for i in range(3):
                app.notify(f"a toast with some length to it, number {i}", timeout=30)
            await pilot.pause(0.3)
            assert app.generating
            lines = screen_lines(app)
            assert any(line.strip() == DISCLAIMER for line in lines), lines  # whole, and alone on its line
            assert DISCLAIMER not in status(app)
        await pilot.resize_terminal(80, 24)  # the status line is cut at its end: work in progress comes first
        await pilot.pause(0.3)
        assert any(line.lstrip(" ●").startswith("answering… (Esc stops) · ") for line in screen_lines(app))
        await pilot.resize_terminal(50, 30)  # narrower than the notice: it wraps, every word shown
        await pilot.pause(0.3)
        notice = app.query_one("#disclaimer")
        top = notice.region.y
        shown = " ".join(line.strip() for line in screen_lines(app)[top : top + notice.region.height])
        assert shown == DISCLAIMER
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.generating, timeout=30)


# 2 ------------------------------------------------------------------------------------------------
async def test_the_sources_header_says_at_once_whether_retrieval_is_on(default_index):
    app = MedtuiApp(Settings(rag=False, max_tokens=8))
    async with app.run_test(size=NARROW) as pilot:
        await ready(pilot, app)
        assert "retrieval is off" in header(app)  # from the start, not only after a question
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        assert "retrieval is off" not in header(app) and "retrieval is off" not in screen_text(app)
        await wait_for(pilot, lambda: app.retriever is not None)
        assert "retrieval is off" not in header(app)
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        assert "retrieval is off" in header(app)


# 3 ------------------------------------------------------------------------------------------------
async def test_a_welcome_names_model_and_index_and_asks_an_example_chosen_with_the_keyboard(
    default_index, fast_settings
):
    app = MedtuiApp(fast_settings.replace(rag=False))
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot, app)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "answers medical questions" in text
        assert re.search(r"model: smollm2 \(GGUF, [\d.]+ MB\)", text)
        assert re.search(r"index: default \([\d,]+ snippets\)", text)
        assert all(example in text for example in EXAMPLES)
        await pilot.press("up")  # from the question box to the examples
        assert isinstance(app.focused, OptionList) and app.focused.highlighted == 0
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.query(AnswerView) and not app.generating)
        assert [q.question for q in app.query(QuestionView)] == [EXAMPLES[1]]
        assert not app.query(Welcome) and EXAMPLES[0] not in screen_text(app)
        assert isinstance(app.focused, PromptInput)
        await pilot.press("ctrl+n")  # a new chat welcomes again
        await pilot.pause(0.2)
        assert app.query(Welcome) and "model: smollm2" in screen_text(app)
        assert header(app) == "Sources: retrieval is off"


# 4 ------------------------------------------------------------------------------------------------
async def test_the_footer_shows_the_quit_key_at_both_sizes():
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=NARROW) as pilot:
        for size in (NARROW, WIDE):
            await pilot.resize_terminal(*size)
            await pilot.pause(0.2)
            assert "^q Quit" in screen_lines(app)[-1]
        await pilot.press("ctrl+q")
        await pilot.pause(0.1)
    assert app.return_code is not None


# 5 ------------------------------------------------------------------------------------------------
async def test_a_focused_sources_list_opens_its_first_source_with_enter():
    conversation = two_answers()
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=WIDE) as pilot:
        app.open_conversation(conversation)
        await pilot.pause(0.1)
        app.query_one("#sources-list").focus()
        await pilot.pause(0.1)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, PassageScreen) and app.screen.record["title"] == "Ptosis"


async def test_closing_the_model_switcher_gives_focus_back_to_the_question_box():
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot, app)
        app.query_one("#sources-list").focus()  # wherever focus was, typing is next
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ModelSwitcher)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.focused, PromptInput)
        await pilot.press(*"abc")
        assert app.query_one(PromptInput).value == "abc"


async def test_a_question_typed_while_an_answer_streams_is_queued_and_asked_when_it_ends():
    app = MedtuiApp(Settings(rag=False, max_tokens=LONG, temperature=0.0))
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot, app)
        await start_long_answer(pilot, app)
        await pilot.press(*"What is gout?", "enter")
        await pilot.pause(0.1)
        prompt = app.query_one("#prompt", Input)
        assert prompt.value == "What is gout?"  # kept, not erased
        assert QUEUED in status(app) and QUEUED in screen_text(app)
        await pilot.press("escape")  # the first answer ends: the queued question is asked
        await wait_for(pilot, lambda: len(app.query(QuestionView)) == 2, timeout=30)
        assert app.query(QuestionView).last(QuestionView).question == "What is gout?"
        assert prompt.value == ""
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.generating, timeout=30)
        assert QUEUED not in status(app)


# 6 ------------------------------------------------------------------------------------------------
async def test_the_palette_has_an_entry_for_each_chat_key():
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=WIDE) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in (
            "Toggle reasoning",
            "New chat",
            "Rename conversation",
            "Delete conversation",
            "Export conversation",
        ):
            assert title in titles
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Toggle reasoning")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, CommandPalette)
        assert any("no reasoning to show" in n.message for n in app._notifications)
        await pilot.press("f4")  # over Benchmarks the chat's commands would act on the chat unseen
        await pilot.pause(0.2)
        assert "Toggle side panels" not in {c.title for c in app.get_system_commands(app.screen)}


# 7 ------------------------------------------------------------------------------------------------
async def test_each_answer_shows_its_own_sources_when_selected():
    conversation = two_answers()
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=WIDE) as pilot:
        app.open_conversation(conversation)
        app.query_one(PromptInput).focus()
        await pilot.pause(0.1)
        panel = app.query_one(SourcesPanel)
        assert [r["title"] for r in panel.records] == ["Ptosis"]
        await pilot.press("up")  # the latest answer
        first, second = app.query(AnswerView)
        assert app.focused is second and "Sources of answer 2 (1)" in header(app)
        await pilot.press("up")  # the one before: its own two sources
        await pilot.pause(0.1)
        assert app.focused is first
        assert [r["title"] for r in panel.records] == ["Nephritis", "Kidney"]
        assert "Sources of answer 1 (2)" in header(app) and "Nephritis" in screen_text(app)
        await pilot.press("down", "down")  # past the last answer: back to typing
        assert isinstance(app.focused, PromptInput)


# 8 ------------------------------------------------------------------------------------------------
def readme_chat_table() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## The chat") :].split("\n\n")[1]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in table.splitlines()[2:]]


async def test_the_readme_key_table_matches_the_footer_and_the_palette():
    from textual.app import App

    rows = readme_chat_table()
    keys = {row[0] for row in rows}
    readme_palette = {row[1] for row in rows} - {""}
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=WIDE) as pilot:
        shown = [b for b in app.BINDINGS if b.show]
        footer = lambda: [key.description for key in app.screen.query("FooterKey")]
        await wait_for(pilot, lambda: all(b.description in footer() for b in shown), timeout=20)
        await wait_for(pilot, lambda: "^p palette" in screen_lines(app)[-1], timeout=20)
        named = {"escape": "Esc"}
        for binding in shown:
            key = named.get(binding.key, binding.key if "+" in binding.key else binding.key.upper())
            assert key in keys, f"{key} ({binding.description}) is not in the README"
        assert "ctrl+p" in keys
        for binding in HistorySidebar.BINDINGS:  # the keys its footer shows when the History list is focused
            assert f"in History: {binding.key}" in keys, binding.description
        titles = [c.title for c in app.get_system_commands(app.screen)]
        textual_own = {c.title for c in App.get_system_commands(app, app.screen)}
        assert readme_palette <= set(titles), readme_palette - set(titles)
        assert {t for t in titles if t not in textual_own} <= readme_palette


# 9 ------------------------------------------------------------------------------------------------
SMALL = [(80, 24), (100, 30)]


def footer_text(app: MedtuiApp) -> list[str]:
    """The lines the screen on top's footer takes."""
    region = app.screen.query_one(Footer).region
    return screen_lines(app)[region.y : region.bottom]


def footer_keys(app: MedtuiApp) -> list[str]:
    """Each key the footer is to show, as it reads there ("^q Quit")."""
    return [
        f"{app.get_key_display(binding)} {binding.description}"
        for _, binding, _, _ in app.screen.active_bindings.values()
        if binding.show
    ]


async def eventually(pilot, check, timeout: float = 10.0):
    """Run `check` (it asserts) until it passes, and return what it returns: the footer redraws its
    keys a frame or more after a resize or a focus change, later on a loaded machine."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if loop.time() > deadline:
                raise
            await pilot.pause(0.1)


async def open_screen(pilot, app: MedtuiApp, key: str) -> None:
    chat = app.screen
    await pilot.press(key)
    await wait_for(pilot, lambda: app.screen is not chat, timeout=10)
    await pilot.pause(0.3)


async def test_every_footer_key_reads_whole_at_80_and_100_columns_quit_first():
    """At 80 and 100 columns the footer was one line cut after ^r: F2–F6 were only in the palette.
    The other screens' footers list their own keys and the screens, not the chat's own keys."""
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=SMALL[0]) as pilot:
        for size in SMALL:
            await pilot.resize_terminal(*size)

            def whole() -> None:
                lines, keys = footer_text(app), footer_keys(app)
                assert len(keys) >= 12 and all(f"{f} " in "\n".join(lines) for f in ("f2", "f3", "f4", "f5", "f6"))
                assert all(any(key in line for line in lines) for key in keys), (keys, lines)
                assert lines[-1].split()[:2] == ["^q", "Quit"] and "^p palette" in lines[-1], lines

            await eventually(pilot, whole)
        await pilot.resize_terminal(80, 24)
        await pilot.press("ctrl+b", "ctrl+b")  # the History drawer, focused: its keys come first
        await pilot.pause(0.3)
        assert app.focused is app.query_one(HistorySidebar).query_one(OptionList)  # Up/Down/Enter pick at once

        def drawer() -> None:
            lines = footer_text(app)
            assert lines[-1].split()[:2] == ["^q", "Quit"] and "^p palette" in lines[-1], lines
            assert "d Delete" in lines[-2], lines

        await eventually(pilot, drawer)
        await pilot.press("ctrl+b")
        await pilot.pause(0.1)
        assert isinstance(app.focused, PromptInput)  # the drawer closed: typing goes to the question
        for key in ("f4", "f5", "f6"):
            await open_screen(pilot, app, key)

            def screens_own(key=key) -> None:
                lines, keys = footer_text(app), footer_keys(app)
                assert "^b Panels" not in keys and "^t Reasoning" not in keys, keys  # they act on the chat
                assert all(any(key in line for line in lines) for key in keys), (key, keys, lines)
                assert "^p palette" in lines[-1]

            await eventually(pilot, screens_own)
            await pilot.press("escape")
            await pilot.pause(0.3)


# 10 -----------------------------------------------------------------------------------------------
def touching(buttons: list[Widget]) -> list[str]:
    """Buttons (and switches) side by side with no column between them."""
    return [
        f"#{a.id} and #{b.id}"
        for a in buttons
        for b in buttons
        if a is not b and a.region.y == b.region.y and a.region.height and 0 <= b.region.x - a.region.right < 1
    ]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("key", ["f4", "f5", "f6"])
async def test_buttons_side_by_side_keep_a_column_between_them(key, size):
    """F5's Preview, Estimate and Start touched at 80 columns and read as one bar; at 160, F6's
    Export button touched its LoRA only switch."""
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, app, key)
        controls = [c for c in app.screen.query("Button, Switch") if c.display]
        assert any(isinstance(c, Button) for c in controls)
        for control in controls:  # each row in view in turn; touching() compares those on one line
            control.scroll_visible(animate=False)
            await pilot.pause(0.2)
            assert touching(controls) == [], [c.region for c in controls]


# 11 -----------------------------------------------------------------------------------------------
def long_conversation() -> int:
    """Six answers of a few paragraphs, each word its own (w<answer>x<n>): several screens of chat
    at 160×48, fewer without the panels."""
    history = History()
    conversation = history.new_conversation("Long", "smollm2")
    for i in range(6):
        history.add_message(conversation, "user", f"Question {i}?")
        words = [f"w{i}x{n}" for n in range(300)]
        answer = "\n\n".join(" ".join(words[k : k + 100]) for k in range(0, 300, 100))
        history.add_message(conversation, "assistant", answer, [], model="smollm2")
    return conversation


def chat_lines(app: MedtuiApp, count: int) -> list[str]:
    """The first `count` lines of the chat the reader sees."""
    region = app.query_one(MessageLog).content_region
    return [line[region.x : region.right] for line in screen_lines(app)[region.y : region.y + count]]


async def wheel(pilot, app: MedtuiApp, up: bool, times: int) -> None:
    log = app.query_one(MessageLog)
    event = events.MouseScrollUp if up else events.MouseScrollDown
    for _ in range(times):
        log.post_message(event(log, 5, 5, 0, 1, 0, False, False, False, screen_x=5, screen_y=5))
        await pilot.pause(0.02)
    await pilot.pause(0.2)


async def test_ctrl_b_keeps_the_readers_place_in_the_chat():
    """At 160×48 ctrl+b moved the chat: the reader's line must stay at the top, and a chat read to
    its end stays at its end."""
    conversation = long_conversation()
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=WIDE) as pilot:
        app.open_conversation(conversation)
        log = app.query_one(MessageLog)
        await wait_for(pilot, lambda: log.max_scroll_y > 40, timeout=30)  # laid out (later on a busy machine)
        await wheel(pilot, app, up=True, times=40)  # back to the middle, as a reader does
        assert 0 < log.scroll_y < log.max_scroll_y - 10
        reading = re.search(r"w\d+x\d+", "\n".join(chat_lines(app, 6)))[0]  # the first word read

        def kept() -> None:
            top = chat_lines(app, 8)
            assert any(re.search(rf"\b{reading}\b", line) for line in top), (reading, top, log.scroll_y)

        def at_end() -> None:
            assert log.scroll_y == log.max_scroll_y > 0

        for _ in range(2):  # hidden, then shown again: the lines rewrap, that word stays at the top
            await pilot.press("ctrl+b")
            await eventually(pilot, kept)
        await wheel(pilot, app, up=False, times=80)  # to the end
        for _ in range(2):
            await pilot.press("ctrl+b")
            await eventually(pilot, at_end)


# 12 -----------------------------------------------------------------------------------------------
FILLED = "▁▂▃▄▅▆▇█"  # a scrollbar's thumb, or a dialog's border, drawn where only keys belong


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "100x30"])
async def test_the_focused_history_list_gets_a_footer_line_of_its_own_and_nothing_is_cut(size):
    """History's e and F6 shared the action name `export`, and Textual's footer shows one key per
    action: f6 Export vanished, and the bottom line (quit, r, d, e, c, esc, ^b…^t) was cut."""
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        if size[0] < 120:
            await pilot.press("ctrl+b", "ctrl+b")  # the History drawer
        app.query_one(HistorySidebar).query_one(OptionList).focus()

        def three_lines() -> None:
            lines, keys = footer_text(app), footer_keys(app)
            assert len(lines) == 3, lines
            assert "f6 Export" in lines[0] and "e Export" in keys and "f6 Export" in keys, (keys, lines)
            assert all(any(key in line for line in lines) for key in keys), (keys, lines)
            assert lines[1].split() == ["r", "Rename", "d", "Delete", "e", "Export", "c", "CLI", "answers"], lines
            assert lines[2].split()[:2] == ["^q", "Quit"] and lines[2].rstrip().endswith("^p palette"), lines
            assert "▏" not in lines[0] + lines[1], lines  # the palette's separator on its own line only

        await eventually(pilot, three_lines)
        app.query_one(PromptInput).focus()  # no keys of its own: back to two lines

        def two_lines() -> None:
            assert len(footer_text(app)) == 2

        await eventually(pilot, two_lines)


@pytest.mark.parametrize("key,title", [("f4", "f4 Benchmarks"), ("f5", "f5 Train"), ("f6", "f6 Export")])
async def test_a_screens_own_f_key_is_not_listed_on_it_and_opens_no_second_copy(key, title):
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, app, key)
        assert title not in "\n".join(footer_text(app)) and title not in footer_keys(app)
        screen = app.screen
        await pilot.press(key)
        await pilot.pause(0.3)
        assert app.screen is screen and len(app.screen_stack) == 2


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "100x30"])
async def test_f6s_form_wraps_so_the_export_button_and_the_switch_are_whole(size):
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, app, "f6")
        footer = app.screen.query_one(Footer).region
        for widget in (app.screen.query_one("#export", Button), app.screen.query_one("#adapter-only")):
            region = widget.region
            assert region.height == 3 and region.width == widget.outer_size.width, region
            assert region.right <= size[0] and region.bottom <= footer.y, (widget, region, footer)


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "100x30"])
async def test_f2s_dialog_leaves_the_footer_lines_visible_and_apply_reachable(size):
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, app, "f2")
        dialog = app.screen.query_one("RetrievalSettings > Vertical").region
        lines = screen_lines(app)
        assert dialog.bottom <= size[1] - 2, dialog
        assert lines[-2].startswith("f2 Retrieval") and not any(c in lines[-2] for c in FILLED), lines[-2:]
        assert lines[-1].startswith("esc Cancel"), lines[-1]
        apply = app.screen.query_one("#apply", Button)
        apply.focus()
        await pilot.pause(0.3)
        assert dialog.contains_region(apply.region), (apply.region, dialog)


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "100x30"])
@pytest.mark.parametrize("key", ["f4", "f5"])
async def test_no_scrollbar_sits_in_the_footer_of_f4_or_f5(key, size):
    """The screen itself scrolled (F4 at 80×24, F5 at 80×24 and 100×30) and its scrollbar's thumb
    sat in the footer's lines: the tabs scroll inside the height above the footer instead."""
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, app, key)
        lines = footer_text(app)
        assert not any(c in line for line in lines for c in FILLED), lines
        assert app.screen.query_one(Footer).region.width == size[0] and not app.screen.show_vertical_scrollbar


async def test_the_palette_lists_the_screen_commands_over_every_screen_each_naming_its_key():
    from textual.app import App

    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=(80, 24)) as pilot:
        textual_own = {c.title for c in App.get_system_commands(app, app.screen)}
        screens = {"Retrieval settings": "(F2)", "Indexes": "(F3)", "Benchmarks": "(F4)", "Train": "(F5)"}
        screens["Export model"] = "(F6)"
        for key in (None, "f4", "f5", "f6"):
            if key:
                await open_screen(pilot, app, key)
            ours = [c for c in app.get_system_commands(app.screen) if c.title not in textual_own]
            described = {c.title: c.help for c in ours}
            for title, named in screens.items():
                assert described.get(title, "").endswith(named), (key, title, described.get(title))
            assert all(re.search(r"\((F\d|ctrl\+\w|Esc|\w in History)\)$", c.help) for c in ours), described
            assert ("New chat" in described) == (key is None)  # the chat's own commands over the chat only
            if key:
                await pilot.press("escape")
                await pilot.pause(0.3)
        quit_ = next(c for c in app.get_system_commands(app.screen) if c.title == "Quit")
        assert quit_.help.endswith("(ctrl+q)"), quit_.help
        f2 = described["Retrieval settings"]
        assert all(word in f2 for word in ("index", "dense", "BM25", "top-k", "answer only from sources")), f2


async def test_a_question_after_retrieval_failed_to_start_says_why_in_one_line(default_index, fast_settings):
    """The toast that said why retrieval failed is gone ten seconds later; a question then used to get
    "no index is loaded (see the error)" though the index was fine and the error no longer on screen."""
    app = MedtuiApp(fast_settings.replace(reranker="/no/such/cross-encoder"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.engine is not None and bool(app.retrieval_error), timeout=60)
        app._notifications.clear()
        await pilot.press(*"What is gout?", "enter")
        await pilot.pause(0.2)
        (message,) = [n.message for n in app._notifications]
        assert message.startswith("retrieval could not start (reranker '/no/such/cross-encoder' is neither a folder")
        assert message.endswith("turn it off with ctrl+r, or fix it and retry with F2") and "\n" not in message
        assert not app.query(QuestionView)  # nothing was asked


@pytest.mark.parametrize("width", [80, 100, 160])
async def test_the_status_bars_progress_leaves_its_words_room_and_shows_its_percentage_whole(width):
    """A 40-column bar with its own ETA left the words ~50 columns at 100 and cut the bar's ETA to
    "00" at every width. The words say how many, how fast and how long; the bar beside them shows
    its percentage, from 120 columns only, where there is room for both."""
    from medtui.tui.widgets.status_bar import StatusBar

    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=(width, 24)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None, timeout=60)
        await pilot.pause(0.3)
        bar = app.query_one(StatusBar)
        bar.set_status("indexing default: 1234/4186 snippets · 120/s · ETA 25 s (Esc stops)", busy=True)
        bar.set_progress(1234, 4186)
        await pilot.pause(0.3)
        line = screen_lines(app)[bar.region.y]
        assert "ETA 25 s (Esc stops)" in line, line
        assert line.rstrip().endswith("29%") == (width >= 120), line


async def test_typing_never_goes_nowhere_after_a_resize_or_from_a_selected_answer(default_index, fast_settings):
    """History focused at 160 columns, the terminal narrowed to 100 (History hidden): typed text
    went nowhere. With an answer selected (Up), typing and Enter did nothing, and so did Esc then
    typing: only Down led back to the question box."""
    app = MedtuiApp(fast_settings.replace(max_tokens=8))
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        app.query_one(HistorySidebar).query_one(OptionList).focus()
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.3)
        await pilot.press(*"Is dry")
        prompt = app.query_one(PromptInput)
        assert prompt.value == "Is dry" and app.focused is prompt
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.generating and len(app.query(AnswerView)) == 1)
        await pilot.press("up")  # the answer is selected
        assert isinstance(app.focused, AnswerView)
        await pilot.press(*"Why")
        assert app.focused is prompt and prompt.value == "Why"
        await pilot.press("up", *" now")  # a half-typed question is added to, not replaced
        assert app.focused is prompt and prompt.value == "Why now"
        await pilot.press("up", "escape")
        assert app.focused is prompt and prompt.value == "Why now"

"""Strings from data (titles, passages, model names) show literally: the TUI never reads them as markup."""

from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.markdown import MarkdownBlock

from medtui.core.config import Settings
from medtui.core.history import History
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.passage import PassageScreen
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from tests.test_tui_chat import wait_for

STYLE = "[bold red]x[/]"
CLICK = "[@click=app.quit]y[/]"


def flat(text: str) -> str:
    return "".join(text.split())


def shown(widget: Widget) -> str:
    """What the widget draws on the screen, without the spaces and line breaks of its layout."""
    return flat("".join(strip.text for strip in widget.render_lines(Region(0, 0, *widget.size))))


async def test_titles_passages_and_model_names_are_never_markup(medtui_home):
    history = History()
    conversation = history.new_conversation(f"{STYLE} {CLICK}", STYLE)
    history.add_message(conversation, "user", "What is nephritis?")
    source = {
        "n": 1,
        "id": "hpo:1",
        "title": f"{STYLE} {CLICK}",
        "source": "hpo",
        "text": f"Kidney {STYLE} inflammation {CLICK}.",
        "score": 0.5,
        "scores": {"dense": 0.5},
    }
    answer = f"Inflammation {STYLE} of the kidney [1]."
    history.add_message(conversation, "assistant", answer, [source], model=CLICK)
    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=(140, 40)) as pilot:
        sidebar = app.query_one("#history-list", OptionList)
        assert flat(STYLE + CLICK) in shown(sidebar)
        sidebar.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.query(AnswerView))
        await pilot.pause(0.2)
        view = app.query_one(AnswerView)
        assert shown(view.query_one(".who", Static)) == CLICK
        assert "".join(shown(block) for block in view.query(MarkdownBlock)) == flat(answer)
        sources = app.query_one("#sources-list", OptionList)
        assert flat(STYLE + CLICK) in shown(sources)
        sources.focus()
        sources.highlighted = 0
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PassageScreen)
        assert shown(app.screen.query_one("#passage-title", Static)) == flat(f"[1] {STYLE} {CLICK}")
        assert shown(app.screen.query_one("#passage-text", Static)) == flat(source["text"])
        await pilot.press("escape")
        app.query_one(SourcesPanel).show([source], notices=[f"index {CLICK} is stale"])
        await pilot.pause(0.1)
        assert flat(f"⚠ index {CLICK} is stale") in shown(app.query_one("#sources-title", Static))
        assert app.is_running


async def test_notifications_show_errors_from_data_literally(medtui_home):
    from medtui.core.errors import MedtuiError

    app = MedtuiApp(Settings(rag=False))
    async with app.run_test(size=(140, 40)) as pilot:
        app.notify(str(MedtuiError(f"model {CLICK}: not found")), severity="error")
        app.screen.notify(f"stopping {STYLE}")  # from a screen too
        await pilot.pause(0.1)
        sent = {n.message: n for n in app._notifications}
        assert {f"model {CLICK}: not found", f"stopping {STYLE}"} <= set(sent)
        assert not any(n.markup for n in sent.values())  # shown as typed, never as markup

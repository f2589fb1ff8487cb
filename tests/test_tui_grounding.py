"""What grounding did, on screen: sources with references, the gate's notices, answer labels,
require_sources from F2, and the dense phase of an index built in the background."""

import json

from textual.widgets import OptionList, Static, Switch

from medtui.chat.outcome import LABELS, UNGROUNDED
from medtui.core.config import Settings
from medtui.core.history import History
from medtui.core.rag.gate import SearchMode
from medtui.core.rag.index import SnippetIndex
from medtui.core.rag.sources import resolve_source
from medtui.core.records import MessageStatus
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.retrieval_settings import RetrievalSettings
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from tests.test_tui_chat import ready, wait_for
from tests.test_tui_screens import SIZE, ask

CAR = "How do I change a car tyre?"


def state(view: AnswerView) -> str:
    return str(view.query_one(".state", Static).render())


def status_line(app: MedtuiApp) -> str:
    return str(app.query_one("#status", Static).render())


def recorded(app: MedtuiApp) -> list[str]:
    """Every notification the app sends from now on (toasts expire from `app._notifications`)."""
    sent: list[str] = []
    notify = app.notify

    def record(message: str, **kwargs) -> None:
        sent.append(message)
        notify(message, **kwargs)

    app.notify = record
    return sent


async def test_a_guideline_grounds_the_diabetes_answer_and_shows_its_reference(default_index, fast_settings):
    app = MedtuiApp(fast_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await ask(pilot, app, "What is the first-line drug treatment for type 2 diabetes?")
        panel = app.query_one(SourcesPanel)
        assert panel.grounded is True and panel.records
        assert any("metformin" in r["text"].lower() for r in panel.records)
        guidelines = [r for r in panel.records if r["source"] == "open-medicine" and r["reference"]]
        assert guidelines and all(r["title"] for r in guidelines)
        options = app.query_one("#sources-list", OptionList)
        first = guidelines[0]
        shown = str(options.get_option_at_index(first["n"] - 1).prompt)
        assert first["reference"] in shown  # the dim second line cites it
        assert "covers this question" not in panel.title_text


async def test_an_off_topic_question_is_labelled_ungrounded_then_refused_with_require_sources(
    default_index, fast_settings
):
    app = MedtuiApp(fast_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        sent = recorded(app)
        await ask(pilot, app, CAR)
        panel = app.query_one(SourcesPanel)
        notice = "no source in default covers this question"
        assert panel.records == [] and panel.grounded is False
        assert "Sources (0)" in panel.title_text and notice in panel.title_text
        assert sent.count(notice) == 1
        answer = app.query_one(AnswerView)
        assert answer.answer_text.strip() and UNGROUNDED in state(answer)
        assert History().messages(app.conversation_id)[-1].sources == []

        await pilot.press("f2")  # turn on "Answer only from sources" with the keyboard
        assert isinstance(app.screen, RetrievalSettings)
        assert "≥" in str(app.screen.query_one("#gate-rule", Static).render())
        switch = app.screen.query_one("#require-sources", Switch)
        switch.focus()
        await pilot.press("space")
        assert switch.value
        app.screen.query_one("#apply").focus()
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.settings.require_sources

        await ask(pilot, app, CAR)
        refused = list(app.query(AnswerView))[-1]
        saved = History().messages(app.conversation_id)[-1]
        assert saved.status is MessageStatus.REFUSED
        assert refused.text == saved.content and "no answer was generated" in refused.answer_text
        assert LABELS[MessageStatus.REFUSED] in state(refused)
        assert notice in panel.title_text and sent.count(notice) == 1  # still in the header: no second toast


async def test_an_answer_cut_at_max_tokens_is_labelled_so_live_and_when_reopened():
    app = MedtuiApp(Settings(rag=False, max_tokens=8, temperature=0.0, n_ctx=2048))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await ask(pilot, app, "Explain in detail how the kidneys filter blood.")
        live = state(app.query_one(AnswerView))
        assert LABELS[MessageStatus.CUT] in live and "raise max_tokens" in live
        assert History().messages(app.conversation_id)[-1].status is MessageStatus.CUT
        app.open_conversation(app.conversation_id)
        await pilot.pause(0.1)
        assert state(app.query_one(AnswerView)) == LABELS[MessageStatus.CUT]


def keyword_only_index(tmp_path, name: str) -> str:
    rows = [
        {
            "id": "gout",
            "title": "Gout",
            "text": "Gout is an inflammatory arthritis caused by urate crystals in joints.",
        },
        {
            "id": "asthma",
            "title": "Asthma",
            "text": "Asthma is a chronic airway disease treated with inhaled steroids.",
        },
        {"id": "anemia", "title": "Anemia", "text": "Iron deficiency anemia is treated with oral iron supplements."},
    ]
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    SnippetIndex(name).add([resolve_source(str(path))], dense=False)
    assert not SnippetIndex(name).dense_ready
    return name


def held_dense_phase(monkeypatch, gate):
    """Hold the dense phase after its first progress report until the test opens the gate; returns
    the real `embed_pending`."""
    embed_pending = SnippetIndex.embed_pending

    def held(self, progress=None, cancel=None, *args, **kwargs):
        return embed_pending(self, gate.hold(progress), cancel, *args, **kwargs)

    monkeypatch.setattr(SnippetIndex, "embed_pending", held)
    return embed_pending


async def test_a_keyword_only_index_serves_at_once_and_turns_hybrid_in_the_background(tmp_path, monkeypatch, gate):
    name = keyword_only_index(tmp_path, "tiny-background")
    held_dense_phase(monkeypatch, gate)
    app = MedtuiApp(Settings(index=name, max_tokens=8, temperature=0.0, n_ctx=2048))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        sent = recorded(app)
        assert app.retriever.mode() is SearchMode.BM25
        await wait_for(pilot, lambda: "building dense search" in status_line(app), timeout=30)
        # work in progress first, so a narrow terminal cuts the model and settings, not the progress
        assert status_line(app).startswith("building dense search") and "(Esc stops)" in status_line(app)
        assert "keyword search only" in status_line(app)
        await ask(pilot, app, "What causes gout?")  # the input is not blocked meanwhile
        assert any(n.startswith("keyword search only") for n in app.query_one(SourcesPanel).notices)
        assert app.query_one(AnswerView).answer_text.strip()
        gate.open()
        await wait_for(pilot, lambda: app.retriever.mode() is SearchMode.HYBRID, timeout=60)
        await pilot.pause(0.1)
        assert any(m.startswith("hybrid search ready") for m in sent)
        assert "keyword search only" not in status_line(app) and "RAG hybrid" in status_line(app)


async def test_escape_stops_the_dense_phase_and_the_next_start_resumes_it(tmp_path, monkeypatch, gate):
    name = keyword_only_index(tmp_path, "tiny-stopped")
    embed_pending = held_dense_phase(monkeypatch, gate)
    app = MedtuiApp(Settings(index=name, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        sent = recorded(app)
        await wait_for(pilot, lambda: "building dense search" in status_line(app), timeout=30)
        await pilot.press("escape")
        gate.open()
        await wait_for(pilot, lambda: any("dense search of tiny-stopped stopped" in m for m in sent), timeout=30)
        assert "keyword search only" in status_line(app) and "building" not in status_line(app)
        assert not SnippetIndex(name).dense_ready
    monkeypatch.setattr(SnippetIndex, "embed_pending", embed_pending)
    app = MedtuiApp(Settings(index=name, max_tokens=8))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: app.retriever.mode() is SearchMode.HYBRID, timeout=60)

"""One assistant answer: reasoning collapsed above, markdown answer below, redrawn at most 10×/s.

Tokens arrive faster than markdown can be re-rendered; the view keeps the raw text and
repaints on a timer, so streaming stays smooth however fast the model is. Once the answer's
sentences are attributed, it is redrawn with the checked citations as links (selecting one
opens that passage with the supporting span highlighted) and unsupported sentences marked.

An answer can be focused (Up from the question box, then Up/Down between answers): it then posts
Selected, and the Sources panel shows that answer's own sources.
"""

from dataclasses import dataclass

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Collapsible, Markdown, Static

from medtui.chat.attribution import rewrite, support_notices
from medtui.chat.outcome import LABELS
from medtui.core.rag.attribution import UNSUPPORTED, Sentence
from medtui.core.reasoning import split_reasoning
from medtui.core.records import MessageStatus
from medtui.tui.styles import stylesheet

REFRESH_S = 0.1
CHECKING = "checking each sentence against the sources…"
UNSUPPORTED_FLAG = f"⚠ {UNSUPPORTED}"  # how an unsupported sentence is marked here (the notice names it so)


def answer_state(status: MessageStatus, notices: list[str] | tuple[str, ...] = ()) -> str:
    """The line under an answer: how it ended (LABELS) and what the user must know about it, one
    per line ("" for a complete answer with nothing to say). A status without a label other than
    complete (an answer still marked streaming, cut off by a crash) shows its own word."""
    label = LABELS.get(status, "" if status is MessageStatus.COMPLETE else str(status))
    lines = [label] if label else []
    lines += [n for n in notices if n and n not in lines]
    return "\n".join(lines)


def linked_answer(answer: str, sentences: list[Sentence]) -> str:
    """The answer's markdown with each checked citation a `cite:<sentence>:<n>` link and each
    sentence's flags marked after it."""
    return rewrite(answer, sentences, lambda i, n: f"[\\[{n}\\]](cite:{i}:{n})", lambda flags: f"⚠ *{flags}*")


class AnswerView(Vertical, can_focus=True):
    DEFAULT_CSS = stylesheet(__file__)
    HELP = (
        "An answer. Up/Down move between answers; the Sources panel shows this answer's sources. "
        "Typing goes back to the question box."
    )
    BINDINGS = [
        Binding("up", "previous_answer", "Previous answer"),
        Binding("down", "next_answer", "Next answer / question"),
    ]

    @dataclass
    class Selected(Message):
        """This answer was focused: show its own sources."""

        view: "AnswerView"

    @dataclass
    class BrowseEnded(Message):
        """Down past the last answer, or a key typed while an answer is selected: back to the
        question box, with what was typed (a question started here must not be lost)."""

        typed: str = ""

    @dataclass
    class CitationSelected(Message):
        """A citation was selected: `record` is its source, with `highlight`, the supporting spans."""

        record: dict

    def __init__(
        self,
        model: str,
        text: str = "",
        state: str = "",
        sentences: list[Sentence] | None = None,
        sources: list[dict] | None = None,
        notices: list[str] | None = None,
        rag: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.text = text
        self._dirty = bool(text)
        self._state = state
        self._shown = split_reasoning("")
        self.sentences = sentences or []
        self.sources = sources or []  # this answer's own sources (the panel shows the latest answer's)
        self.notices = notices or []  # what its retrieval said (keyword search only, nothing passed the gate…)
        self.rag = rag  # retrieval ran for it
        self._linked = ""
        self.checking = False  # attribution is running

    def compose(self) -> ComposeResult:
        yield Static(self.model, classes="who", markup=False)  # names and states are data: never markup
        with Collapsible(title="Reasoning", collapsed=True):
            yield Markdown(classes="reasoning", open_links=False)
        yield Markdown(classes="answer", open_links=False)  # a model's links never open a browser
        yield Static(self._state, classes="state", markup=False)

    def on_mount(self) -> None:
        self._flush()
        self.set_interval(REFRESH_S, self._flush)

    def append(self, piece: str) -> None:
        self.text += piece
        self._dirty = True

    def finish(self, state: str = "", text: str | None = None) -> None:
        """The answer ended: show `state` under it, and `text` as the answer when it differs from
        what streamed (a refused question streams nothing but has a text to show)."""
        if text and text != self.text:
            self.text = text
        self._state = state
        self._dirty = True
        self._flush()

    def set_checking(self, checking: bool) -> None:
        self.checking = checking
        self._dirty = True

    def show_attribution(self, sentences: list[Sentence], sources: list[dict]) -> None:
        """Redraw the answer with its sentences' checked citations and marks."""
        self.sentences, self.sources, self.checking = sentences, sources, False
        self._dirty = True
        self._flush()

    @property
    def state_text(self) -> str:
        checking = [CHECKING] if self.checking else []
        notices = support_notices(self.sentences, UNSUPPORTED_FLAG)
        return "\n".join(line for line in [self._state, *checking, *notices] if line)

    @on(Markdown.LinkClicked)
    def _on_link(self, event: Markdown.LinkClicked) -> None:
        event.stop()
        kind, _, where = event.href.partition(":")
        try:  # only the links linked_answer made open anything; a model's own links never do
            index, n = (int(part) for part in where.split(":"))
            sentence = self.sentences[index]
            record = next(r for r in self.sources if r["n"] == n)
        except (ValueError, IndexError, StopIteration):
            kind = ""
        if kind != "cite":
            self.notify(f"links in answers are not opened: {event.href}", severity="warning", markup=False)
            return
        spans = [(a, b) for m, a, b in sentence.spans if m == n]
        self.post_message(self.CitationSelected(dict(record, highlight=spans)))

    def on_focus(self) -> None:
        self.scroll_visible()
        self.post_message(self.Selected(self))

    def _siblings(self) -> list["AnswerView"]:
        return list(self.parent.query_children(AnswerView)) if self.parent else [self]

    def on_key(self, event: events.Key) -> None:
        if event.is_printable and event.character:
            event.stop()
            self.post_message(self.BrowseEnded(event.character))

    def action_previous_answer(self) -> None:
        views = self._siblings()
        at = views.index(self)
        if at > 0:
            views[at - 1].focus()

    def action_next_answer(self) -> None:
        views = self._siblings()
        at = views.index(self)
        if at + 1 < len(views):
            views[at + 1].focus()
        else:
            self.post_message(self.BrowseEnded())

    @property
    def number(self) -> int:
        """1 for the conversation's first answer."""
        return self._siblings().index(self) + 1

    def toggle_reasoning(self) -> None:
        collapsible = self.query_one(Collapsible)
        collapsible.collapsed = not collapsible.collapsed

    @property
    def answer_text(self) -> str:
        return split_reasoning(self.text).answer

    @property
    def reasoning_text(self) -> str:
        return split_reasoning(self.text).reasoning

    def _flush(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        split = split_reasoning(self.text)
        self.set_class(bool(split.reasoning) or split.thinking, "has-reasoning")
        self.query_one(Collapsible).title = "Reasoning (thinking…)" if split.thinking else "Reasoning"
        if split != self._shown:  # re-parsing markdown is the costly part: only when it changed
            if split.reasoning != self._shown.reasoning:
                self.query_one(".reasoning", Markdown).update(split.reasoning)
            self._shown = split
        linked = linked_answer(split.answer, self.sentences) if self.sentences else split.answer
        if linked != self._linked:
            self.query_one(".answer", Markdown).update(linked)
            self._linked = linked
        self.query_one(".state", Static).update(self.state_text)

"""One assistant answer: reasoning collapsed above, markdown answer below, redrawn at most 10×/s.

Tokens arrive faster than markdown can be re-rendered; the view keeps the raw text and
repaints on a timer, so streaming stays smooth however fast the model is.
"""

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Markdown, Static

from medtui.chat.outcome import LABELS
from medtui.core.reasoning import split_reasoning
from medtui.core.records import MessageStatus
from medtui.tui.styles import stylesheet

REFRESH_S = 0.1


def answer_state(status: MessageStatus, notices: list[str] | tuple[str, ...] = ()) -> str:
    """The line under an answer: how it ended (LABELS) and what the user must know about it, one
    per line ("" for a complete answer with nothing to say). A status without a label other than
    complete (an answer still marked streaming, cut off by a crash) shows its own word."""
    label = LABELS.get(status, "" if status is MessageStatus.COMPLETE else str(status))
    lines = [label] if label else []
    lines += [n for n in notices if n and n not in lines]
    return "\n".join(lines)


class AnswerView(Vertical):
    DEFAULT_CSS = stylesheet(__file__)

    def __init__(self, model: str, text: str = "", state: str = "") -> None:
        super().__init__()
        self.model = model
        self.text = text
        self._dirty = bool(text)
        self._state = state
        self._shown = split_reasoning("")

    def compose(self) -> ComposeResult:
        yield Static(self.model, classes="who", markup=False)  # names and states are data: never markup
        with Collapsible(title="Reasoning", collapsed=True):
            yield Markdown(classes="reasoning")
        yield Markdown(classes="answer")
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
            if split.answer != self._shown.answer:
                self.query_one(".answer", Markdown).update(split.answer)
            self._shown = split
        self.query_one(".state", Static).update(self._state)

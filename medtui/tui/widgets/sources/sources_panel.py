"""The sources of the latest answer (or of the answer selected in the chat), numbered as cited;
Enter opens the full passage.

The header counts them and carries the retrieval's notices (nothing passed the relevance gate,
keyword search only…), so what grounding did stays visible after the toast is gone; an answer
selected in the chat brings its own.
"""

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from medtui.core.rag.attribution import Sentence
from medtui.tui.styles import stylesheet

NOT_GROUNDED = "no source covers this question"  # only when the retrieval gave no notice saying so


def _label(record: dict) -> Text:
    scores = "  ".join(f"{name} {value:.2f}" for name, value in record.get("scores", {}).items())
    where = " · ".join(part for part in (record.get("source", ""), record.get("reference", ""), scores) if part)
    label = Text(f"[{record['n']}] ", style="bold")
    label.append(record["title"])
    label.append(f"\n    {where}", style="dim")
    if "supports" in record:
        count = record["supports"]
        label.append(
            f"\n    supports {count} sentence{'s' if count != 1 else ''}" if count else "\n    supports no sentence"
        )
    return label


class SourcesList(OptionList):
    """The list of sources: focused, its first source is highlighted, so Enter opens it at once."""

    def on_focus(self) -> None:
        self.highlight_first()

    def highlight_first(self) -> None:
        if self.highlighted is None and self.option_count:
            self.highlighted = 0


class SourcesPanel(Vertical):
    DEFAULT_CSS = stylesheet(__file__)
    HELP = (
        "Sources retrieved for the latest answer, or for the answer selected in the chat (Up from the question "
        "box, then Up/Down). Enter (or click) opens a passage in full."
    )

    @dataclass
    class SourceSelected(Message):
        record: dict

    def __init__(self, rag: bool = True) -> None:
        super().__init__(id="sources")
        self.records: list[dict] = []
        self.notices: list[str] = []
        self.rag = rag  # retrieval ran for the answer shown (is on, before any)
        self.answer_number: int | None = None  # whose sources: an answer selected in the chat, else the latest
        self.grounded: bool | None = None
        self.answered = False  # a list of sources is shown (else the header is just "Sources")

    def compose(self) -> ComposeResult:
        yield Static("Sources", id="sources-title", markup=False)  # notices quote data: never markup
        yield SourcesList(id="sources-list")

    def on_mount(self) -> None:
        self._update_title()

    def show(
        self,
        records: list[dict],
        notices: list[str] | None = None,
        rag: bool = True,
        answer_number: int | None = None,
    ) -> list[str]:
        """Show a search's sources and notices (`answer_number`: those of that answer in the chat,
        selected there); returns the notices the header did not show before (the ones worth a
        toast: the rest the user has seen already). With retrieval on, no source means nothing
        passed the gate or fit the prompt."""
        self.answer_number = answer_number
        shown = set(self.notices)
        notices = list(dict.fromkeys(notices or []))  # each text once
        grounded = bool(records) if rag else None
        if grounded is False and not any("covers this question" in n for n in notices):
            notices.insert(0, NOT_GROUNDED)
        self.records, self.notices, self.rag, self.grounded, self.answered = records, notices, rag, grounded, True
        self._fill(records)
        self._update_title()
        return [n for n in notices if n not in shown]

    def clear(self, rag: bool) -> None:
        """A new chat (or one being reopened): no sources, no notices, and no count in the header
        until a question is asked."""
        self.records, self.notices, self.rag, self.grounded, self.answered = [], [], rag, None, False
        self.answer_number = None
        self._fill([])
        self._update_title()

    def show_support(self, sentences: list[Sentence]) -> None:
        """After attribution: each source says how many sentences of the answer it supports, and
        opens with their spans highlighted."""
        if not sentences:
            return
        for record in self.records:
            spans = [(a, b) for s in sentences for n, a, b in s.spans if n == record["n"]]
            record["highlight"] = spans
            record["supports"] = sum(record["n"] in s.sources for s in sentences)
        self._fill(self.records)

    def _fill(self, records: list[dict]) -> None:
        options = self.query_one(SourcesList)
        options.clear_options()
        options.add_options([Option(_label(r), id=str(r["n"])) for r in records])
        if options.has_focus:
            options.highlight_first()

    def set_rag(self, rag: bool) -> None:
        """Retrieval was turned on or off: the header says so at once, not after the next question."""
        self.rag = rag
        self._update_title()

    @property
    def title_text(self) -> str:
        return str(self.query_one("#sources-title", Static).render())

    def _update_title(self) -> None:
        if self.answer_number is not None:
            count = f" ({len(self.records)})" if self.rag else ": retrieval was off"
            title = f"Sources of answer {self.answer_number}{count}"
        elif not self.rag:
            title = "Sources: retrieval is off"
        else:
            title = f"Sources ({len(self.records)})" if self.answered else "Sources"
        if self.notices:
            title += "\n" + "\n".join(f"⚠ {n}" for n in self.notices)
        self.query_one("#sources-title", Static).update(title)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.SourceSelected(self.records[event.option_index]))

"""The sources of the latest answer, numbered as cited; Enter opens the full passage.

The header counts them and carries the retrieval's notices (nothing passed the relevance gate,
keyword search only…), so what grounding did stays visible after the toast is gone.
"""

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from medtui.tui.styles import stylesheet

NOT_GROUNDED = "no source covers this question"  # only when the retrieval gave no notice saying so


def _label(record: dict) -> Text:
    scores = "  ".join(f"{name} {value:.2f}" for name, value in record.get("scores", {}).items())
    where = " · ".join(part for part in (record.get("source", ""), record.get("reference", ""), scores) if part)
    label = Text(f"[{record['n']}] ", style="bold")
    label.append(record["title"])
    label.append(f"\n    {where}", style="dim")
    return label


class SourcesPanel(Vertical):
    DEFAULT_CSS = stylesheet(__file__)
    HELP = "Sources retrieved for the latest answer. Enter (or click) opens a passage in full."

    @dataclass
    class SourceSelected(Message):
        record: dict

    def __init__(self) -> None:
        super().__init__(id="sources")
        self.records: list[dict] = []
        self.notices: list[str] = []
        self.rag = True
        self.grounded: bool | None = None
        self.answered = False  # a list of sources is shown (else the header is just "Sources")

    def compose(self) -> ComposeResult:
        yield Static("Sources", id="sources-title", markup=False)  # notices quote data: never markup
        yield OptionList(id="sources-list")

    def show(
        self, records: list[dict], notices: list[str] | None = None, rag: bool = True, grounded: bool | None = None
    ) -> list[str]:
        """Show a search's sources and notices; returns the notices the header did not show
        before (the ones worth a toast: the rest the user has seen already)."""
        shown = set(self.notices)
        notices = list(dict.fromkeys(notices or []))  # each text once
        if grounded is False and not any("covers this question" in n for n in notices):
            notices.insert(0, NOT_GROUNDED)
        self.records, self.notices, self.rag, self.grounded, self.answered = records, notices, rag, grounded, True
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(_label(r), id=str(r["n"])) for r in records])
        self._update_title()
        return [n for n in notices if n not in shown]

    def set_rag(self, rag: bool) -> None:
        """Retrieval was turned on or off: the header says so at once, not after the next question."""
        self.rag = rag
        self._update_title()

    @property
    def title_text(self) -> str:
        return str(self.query_one("#sources-title", Static).render())

    def _update_title(self) -> None:
        if not self.rag:
            title = "Sources: retrieval is off"
        else:
            title = f"Sources ({len(self.records)})" if self.answered else "Sources"
        if self.notices:
            title += "\n" + "\n".join(f"⚠ {n}" for n in self.notices)
        self.query_one("#sources-title", Static).update(title)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.SourceSelected(self.records[event.option_index]))

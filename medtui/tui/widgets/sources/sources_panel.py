"""The sources of the latest answer, numbered as cited; Enter opens the full passage."""

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from medtui.tui.styles import stylesheet


def _label(record: dict) -> Text:
    scores = "  ".join(f"{name} {value:.2f}" for name, value in record.get("scores", {}).items())
    label = Text(f"[{record['n']}] ", style="bold")
    label.append(record["title"])
    label.append(f"\n    {record['source']} · {scores}", style="dim")
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

    def compose(self) -> ComposeResult:
        yield Static("Sources", id="sources-title", markup=False)  # notices quote data: never markup
        yield OptionList(id="sources-list")

    def show(self, records: list[dict], notices: list[str] | None = None, rag: bool = True) -> None:
        self.records = records
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(_label(r), id=str(r["n"])) for r in records])
        title = f"Sources ({len(records)})" if rag else "Sources: retrieval is off"
        if notices:
            title += "\n" + "\n".join(f"⚠ {n}" for n in notices)
        self.query_one("#sources-title", Static).update(title)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.SourceSelected(self.records[event.option_index]))

"""Saved conversations: Enter reopens, r renames, d deletes, e exports to Markdown."""

from dataclasses import dataclass

from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from medtui.core.history import Conversation
from medtui.tui.styles import stylesheet


class HistorySidebar(Vertical):
    DEFAULT_CSS = stylesheet(__file__)
    HELP = "Your saved conversations. Enter reopens one; r renames, d deletes, e exports it to Markdown."
    BINDINGS = [
        Binding("r", "rename", "Rename", id="history.rename"),
        Binding("d", "delete", "Delete", id="history.delete"),
        Binding("e", "export", "Export", id="history.export"),
    ]

    @dataclass
    class Opened(Message):
        conversation_id: int

    @dataclass
    class RenameRequested(Message):
        conversation_id: int
        title: str

    @dataclass
    class DeleteRequested(Message):
        conversation_id: int

    @dataclass
    class ExportRequested(Message):
        conversation_id: int

    def __init__(self) -> None:
        super().__init__(id="history")

    def compose(self):
        yield Static("History")
        yield OptionList(id="history-list", markup=False)  # titles are data: never markup

    def show(self, conversations: list[Conversation], current: int | None = None) -> None:
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options([Option(c.title, id=str(c.id)) for c in conversations])
        if current is not None:
            ids = [c.id for c in conversations]
            if current in ids:
                options.highlighted = ids.index(current)
        elif conversations:
            options.highlighted = min(highlighted or 0, len(conversations) - 1)

    def _selected(self) -> Option | None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return None
        return options.get_option_at_index(options.highlighted)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Opened(int(event.option.id)))

    def action_rename(self) -> None:
        if option := self._selected():
            self.post_message(self.RenameRequested(int(option.id), str(option.prompt)))

    def action_delete(self) -> None:
        if option := self._selected():
            self.post_message(self.DeleteRequested(int(option.id)))

    def action_export(self) -> None:
        if option := self._selected():
            self.post_message(self.ExportRequested(int(option.id)))

"""Saved conversations, newest first, each with its date: Enter reopens, r renames, d deletes
(after a confirmation), e exports to Markdown, c shows `medtui ask`'s answers instead of the chat's."""

from dataclasses import dataclass

from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from medtui.core.history import Conversation, stamp
from medtui.tui.screens.confirm import ConfirmScreen
from medtui.tui.styles import stylesheet

# What each front end's conversations are called in the list's heading, and c's key in the footer.
VIEWS = {"tui": "Chats", "cli": "CLI answers"}
# What an empty list says, in each view.
EMPTY = {"tui": "no conversations yet: ask a question", "cli": "no CLI answers yet"}


class Entry:
    """One conversation in the list: its title (what `str` gives, for rename and tests), then its
    date and time dimmed on a second line. Titles are data: never markup."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    def __str__(self) -> str:
        return self.conversation.title

    def visualize(self) -> Content:
        return Content.assemble(self.conversation.title, "\n", (stamp(self.conversation.updated), "dim"))


class HistorySidebar(Vertical):
    DEFAULT_CSS = stylesheet(__file__)
    HELP = (
        "Your saved conversations with their dates. Enter reopens one; r renames, d deletes (asks first), "
        "e exports it to Markdown, c switches between the chat's conversations and `medtui ask`'s answers."
    )
    BINDINGS = [
        Binding("r", "rename", "Rename", id="history.rename"),
        Binding("d", "delete", "Delete", id="history.delete"),
        Binding("e", "export_conversation", "Export", id="history.export"),
        # c's footer key names the other view: one binding per view, the other's hidden (check_action)
        Binding("c", "switch_view('cli')", VIEWS["cli"], id="history.switch_view"),
        Binding("c", "switch_view('tui')", VIEWS["tui"], id="history.switch_view"),
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
        """Posted once the user confirmed: the app deletes at once."""

        conversation_id: int

    @dataclass
    class ExportRequested(Message):
        conversation_id: int

    def __init__(self) -> None:
        super().__init__(id="history")
        self.source = "tui"  # whose conversations are listed: the chat app's, or `medtui ask`'s ("cli")
        self._conversations: list[Conversation] = []
        self._current: int | None = None

    def compose(self):
        yield Static(self._heading(), id="history-title", markup=False)
        yield Static(EMPTY[self.source], id="history-empty", markup=False)
        yield OptionList(id="history-list", markup=False)  # titles are data: never markup

    def _heading(self) -> str:
        other = "tui" if self.source == "cli" else "cli"
        return f"{VIEWS[self.source]} · c: {VIEWS[other].lower() if other == 'tui' else VIEWS[other]}"

    def show(self, conversations: list[Conversation], current: int | None = None) -> None:
        """Every conversation, from either front end: those of the view chosen with c are listed."""
        self._conversations, self._current = conversations, current
        self._list()

    def _list(self) -> None:
        shown = [c for c in self._conversations if c.source == self.source]
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options([Option(Entry(c), id=str(c.id)) for c in shown])
        ids = [c.id for c in shown]
        if self._current is not None and self._current in ids:
            options.highlighted = ids.index(self._current)
        elif shown:
            options.highlighted = min(highlighted or 0, len(shown) - 1)
        self.query_one("#history-title", Static).update(self._heading())
        empty = self.query_one("#history-empty", Static)
        empty.update(EMPTY[self.source])
        empty.display = not shown

    def focus_list(self) -> None:
        """Shown as a drawer over a narrow chat, the list is what the user came for: Up/Down, Enter."""
        self.query_one(OptionList).focus()

    def _selected(self, verb: str) -> Option | None:
        """The highlighted conversation; with none, says in one line that there is nothing to `verb`."""
        options = self.query_one(OptionList)
        if options.highlighted is None:
            self.notify(f"nothing to {verb}: the list is empty", severity="warning")
            return None
        return options.get_option_at_index(options.highlighted)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Opened(int(event.option.id)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only the c that switches to the other view is bound (and shown)."""
        return action != "switch_view" or parameters[0] != self.source

    def action_switch_view(self, source: str) -> None:
        self.source = source
        self.query_one(OptionList).highlighted = None
        self._list()
        self.refresh_bindings()  # the footer's c now names the view this one switches back to

    def action_rename(self) -> None:
        if option := self._selected("rename"):
            self.post_message(self.RenameRequested(int(option.id), str(option.prompt)))

    def action_delete(self) -> None:
        if option := self._selected("delete"):
            self.confirm_delete(int(option.id))

    def confirm_delete(self, conversation_id: int) -> None:
        """Ask, then post DeleteRequested on yes: deleting is for good (the messages leave the
        database). Every way to delete (d here, the command palette) comes through here."""
        conversation = next((c for c in self._conversations if c.id == conversation_id), None)
        what = f"“{conversation.title}” ({stamp(conversation.updated)})" if conversation else "this conversation"

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.post_message(self.DeleteRequested(conversation_id))

        question = f"Delete {what}? Its messages are removed for good."
        self.app.push_screen(ConfirmScreen(question, "Delete"), confirmed)

    def action_export_conversation(self) -> None:
        if option := self._selected("export"):
            self.post_message(self.ExportRequested(int(option.id)))

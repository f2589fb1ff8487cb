"""The retrieval indexes: use one for this chat, resume or rebuild one, or add a source."""

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Input, Static

from medtui.core.errors import MedtuiError
from medtui.core.rag.corpora.default import PACKAGED_CORPORA
from medtui.core.rag.index import check_index_name
from medtui.core.rag.sources import resolve_source


@dataclass(frozen=True)
class IndexRow:
    name: str
    snippets: int
    state: str
    sources: str


@dataclass(frozen=True)
class IndexAction:
    kind: str  # "use" | "rebuild" | "add"
    name: str
    source: str = ""


class IndexesScreen(ModalScreen[IndexAction | None]):
    """Dismisses with what to do; the app runs builds in a worker with progress (Esc stops)."""

    CSS_PATH = "indexes.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("r", "rebuild", "Resume/rebuild"),
        Binding("a", "focus_add", "Add source"),
    ]
    HELP = "Enter uses the highlighted index for this chat; r resumes a partial build or rebuilds; a adds a source."

    def __init__(self, rows: list[IndexRow], active: str) -> None:
        super().__init__()
        self.rows = rows
        self.active = active

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(" Retrieval indexes  (● in use)")
            yield DataTable(id="indexes", cursor_type="row")
            with Horizontal():
                yield Input(placeholder="index name", id="new-name")
                yield Input(placeholder="source: path, Hub id", id="new-source")
                yield Button("Add", id="add")
            yield Static(
                "Source: a file, a folder of files, a saved dataset, a Hub id (MedRAG/textbooks), or a "
                f"packaged corpus: {', '.join(PACKAGED_CORPORA)}.",
                classes="hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "index", "snippets", "state", "sources")
        for row in self.rows:
            table.add_row(
                "●" if row.name == self.active else "",
                row.name,
                str(row.snippets),
                row.state,
                row.sources,
                key=row.name,
            )
        table.focus()

    def _highlighted(self) -> str | None:
        table = self.query_one(DataTable)
        return self.rows[table.cursor_row].name if self.rows else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(IndexAction("use", str(event.row_key.value)))

    def action_rebuild(self) -> None:
        if (name := self._highlighted()) is not None and self.focused is self.query_one(DataTable):
            self.dismiss(IndexAction("rebuild", name))

    def action_focus_add(self) -> None:
        if self.focused is self.query_one(DataTable):
            self.query_one("#new-name", Input).focus()

    def _add(self) -> None:
        name = self.query_one("#new-name", Input).value.strip()
        source = self.query_one("#new-source", Input).value.strip()
        if not name or not source:
            self.notify("give an index name and a source", severity="error")
            return
        try:  # a mistyped path is said now, the form kept to fix it: the build would say it after it closed
            check_index_name(name)
            resolve_source(source)
        except MedtuiError as e:
            self.notify(str(e), severity="error", timeout=10)
            self.query_one("#new-source", Input).focus()
            return
        self.dismiss(IndexAction("add", name, source))

    def on_button_pressed(self) -> None:
        self._add()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "new-name":
            self.query_one("#new-source", Input).focus()
        else:
            self._add()

    def action_close(self) -> None:
        self.dismiss(None)

"""The chat app: composes the widgets, reacts to their messages, runs slow work in workers.

Everything medical happens in the services (medtui.chat, medtui.core.rag, medtui.core.engines); this
layer only moves their events onto the screen. Split by concern: this module holds the layout, the
status, the model and the routing of the widgets' messages; answering.py asks and streams answers,
indexing.py loads and builds indexes, conversations.py handles the history, commands.py lists the
palette's entries.
"""

import threading
from collections.abc import Callable, Iterable

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header

from medtui.chat.export import export_conversation
from medtui.core.config import Settings, save_settings
from medtui.core.engines import Engine
from medtui.core.errors import MedtuiError
from medtui.core.history import History
from medtui.core.rag.gate import SearchMode
from medtui.core.rag.index import SnippetIndex
from medtui.core.rag.retriever import Retriever
from medtui.core.registry import Registry
from medtui.core.wiring import open_engine
from medtui.tui.answering import QUEUED, AnsweringMixin
from medtui.tui.commands import chat_commands, screen_commands
from medtui.tui.conversations import ConversationsMixin
from medtui.tui.forms import FormMemory
from medtui.tui.indexing import IndexingMixin
from medtui.tui.screens.eval_screen import EvalScreen
from medtui.tui.screens.export_screen import ExportScreen
from medtui.tui.screens.passage import PassageScreen
from medtui.tui.screens.rename import RenameScreen
from medtui.tui.screens.switcher import ModelSwitcher
from medtui.tui.screens.train_screen import TrainScreen
from medtui.tui.widgets.chat.answer_view import AnswerView
from medtui.tui.widgets.chat.message_log import MessageLog
from medtui.tui.widgets.chat.prompt_input import PromptInput
from medtui.tui.widgets.chat.welcome import Welcome, model_size
from medtui.tui.widgets.disclaimer import Disclaimer
from medtui.tui.widgets.footer import KeysFooter
from medtui.tui.widgets.history.history_sidebar import HistorySidebar
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from medtui.tui.widgets.status_bar import StatusBar


class MedtuiApp(AnsweringMixin, ConversationsMixin, IndexingMixin, App):
    TITLE = "medtui"
    SUB_TITLE = "local medical Q&A"
    CSS_PATH = "app.tcss"
    # Every screen gets one of these classes for the terminal's width, and the .tcss files adapt
    # to it: below 120 columns the side panels give the answer the width and the forms wrap.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-medium"), (160, "-wide")]
    BINDINGS = [
        Binding("escape", "cancel", "Stop", id="cancel"),
        Binding("ctrl+b", "toggle_panels", "Panels", id="toggle_panels"),
        Binding("ctrl+n", "new_chat", "New chat", id="new_chat"),
        Binding("ctrl+o", "switch_model", "Model", id="switch_model"),
        Binding("ctrl+r", "toggle_rag", "RAG", id="toggle_rag"),
        Binding("f2", "retrieval_settings", "Retrieval", id="retrieval_settings"),
        Binding("f3", "indexes", "Indexes", id="indexes"),
        Binding("f4", "evaluate", "Benchmarks", id="evaluate"),
        Binding("f5", "train", "Train", id="train"),
        Binding("f6", "export", "Export", id="export"),
        Binding("ctrl+t", "toggle_reasoning", "Reasoning", id="toggle_reasoning"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    CHAT_ACTIONS = {"toggle_panels", "new_chat", "switch_model", "toggle_rag", "toggle_reasoning"}
    # F4, F5 and F6 open these screens: on the screen already open their key does nothing, so the
    # footer does not list it there. (The F2 and F3 dialogs guard their actions only: their footer
    # is composed before the dialog is on top, and a modal screen's bindings are not refreshed
    # after, so a key hidden there would still show.)
    SCREEN_ACTIONS = {"evaluate": EvalScreen, "train": TrainScreen, "export": ExportScreen}

    def __init__(self, settings: Settings, history: History | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.history = history or History()
        self.rag, self.top_k = settings.rag, settings.top_k
        self.model_name = settings.model
        self.engine: Engine | None = None
        self.retriever: Retriever | None = None
        self.conversation_id: int | None = None
        self._stop_answer = threading.Event()
        self._stop_indexing = threading.Event()
        self._stop_dense: threading.Event | None = None  # the running dense phase's own stop event
        self._dense_lock = threading.Lock()  # one dense phase at a time (a stopped one finishes its batch)
        self._dense_name: str | None = None  # the index whose dense phase runs last started
        self._dense_progress: str | None = None  # "N/M snippets · rate · ETA" while the dense phase runs
        self._busy_text: str | None = None
        self.generating = False
        self.queued: str | None = None  # a question sent while an answer streamed: asked when it ends
        self.eval_form, self.train_form = FormMemory(), FormMemory()  # F4's and F5's last values, this session

    # -- layout ----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Disclaimer()
        with Horizontal(id="main"):
            yield HistorySidebar()
            with Vertical(id="conversation"):
                with MessageLog(id="log"):
                    yield Welcome()
                yield PromptInput()
            yield SourcesPanel(self.rag)
        yield StatusBar()
        yield KeysFooter()

    def on_mount(self) -> None:
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        self._refresh_history()
        if self.history.notice:  # a damaged history was set aside: say so once
            self.notify(self.history.notice, severity="warning", timeout=15)
        self.query_one(PromptInput).focus()
        # a narrower terminal hides the side panels, and Textual drops the focus of a hidden one:
        # typing would then go nowhere
        self.watch(self.screen, "focused", self._focus_changed, init=False)
        self._update_status()
        self._describe_welcome()
        self.load_model(self.model_name)
        if self.rag:
            self.load_index()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification is plain text, also those screens and widgets send: they carry
        names, paths and errors that come from data, so markup in them is never interpreted."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The chat's own keys act on the chat: over F4, F5 or F6 they would change it unseen behind
        (ctrl+b toggled F4's classes), so there they are neither shown in the footer nor run. F4 on
        F4 (F5 on F5, F6 on F6) would open a second copy over the first: neither shown nor run."""
        if isinstance(self.screen, self.SCREEN_ACTIONS.get(action, ())):
            return False
        return action not in self.CHAT_ACTIONS or len(self.screen_stack) == 1  # the chat alone

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """F2–F6 over every screen; the chat's commands only over the chat: elsewhere they would act
        on it unseen."""
        for command in super().get_system_commands(screen):  # Textual's own, Quit naming its key
            yield command._replace(help="Quit medtui (ctrl+q)") if command.title == "Quit" else command
        yield from screen_commands(self)
        if screen is self.screen_stack[0]:
            yield from chat_commands(self)

    def on_unmount(self) -> None:
        self._stop_answer.set()
        self._stop_indexing.set()
        self._cancel_dense()  # its thread would keep Python from exiting until the whole phase ran

    # -- status ----------------------------------------------------------------
    def _update_status(self, busy_text: str | None = None) -> None:
        self._busy_text = busy_text
        self._show_status()

    def _show_status(self) -> None:
        """Work in progress, then the model and how retrieval searches now (keyword search only
        while the dense half of the index is missing: answers use it meanwhile, and the user must
        see that)."""
        model = self.engine.spec.name if self.engine else "no model"
        s, r = self.settings, self.retriever
        parts = [model]
        if not self.rag:
            parts.append("RAG off")
        else:
            if r is not None:
                mode = {SearchMode.HYBRID: "hybrid", SearchMode.DENSE: "dense", SearchMode.BM25: "BM25"}[r.mode()]
            else:
                mode = "hybrid" if s.dense and s.bm25 else "dense" if s.dense else "BM25"
            parts.append(f"RAG {mode} · top-k {self.top_k} · index {s.index}")
            if r is not None and r.dense_pending():
                parts.append("keyword search only")
        work = [self._busy_text] if self._busy_text else []
        if self.queued is not None:
            work.append(QUEUED)
        if self.rag and r is not None and r.dense_pending() and self._dense_progress:
            work.append(f"building dense search: {self._dense_progress} (Esc stops)")
        busy = self._busy_text is not None or self._dense_progress is not None
        # work in progress first: at 80 columns the line is cut at its end, and "Esc stops" must show
        self.query_one(StatusBar).set_status(" · ".join(work + parts), busy=busy)

    def _error(self, error: Exception) -> None:
        self.notify(str(error), severity="error", timeout=10)

    def _describe_welcome(self) -> None:
        """The welcome's model and index lines, with their sizes (an empty chat only)."""
        welcome = self.query(Welcome).first(Welcome) if self.query(Welcome) else None
        if welcome is None:
            return
        if self.engine is not None:
            spec = self.engine.spec
            size = model_size(spec)
            what = {"gguf": "GGUF", "hf": "HF"}.get(spec.kind, spec.kind) + (" + LoRA" if spec.adapter else "")
            model = f"{spec.name} ({what}{', ' + size if size else ''})"
        else:
            model = f"{self.model_name} (loading…)"
        name = self.settings.index
        try:
            index = f"{name} ({SnippetIndex(name).manifest().bm25_count:,} snippets)"
        except MedtuiError:
            index = f"{name} (not built yet)"
        if not self.rag:
            index += " · retrieval is off (ctrl+r turns it on)"
        welcome.describe(model, index)

    # -- workers ---------------------------------------------------------------
    @work(thread=True, exclusive=True, group="model")
    def load_model(self, name: str, save: bool = False) -> None:
        """Load `name`; `save`: the user chose it, so it is the model next time too (config.toml)."""
        self.call_from_thread(self._update_status, f"loading {name}…")
        try:
            engine = open_engine(self.settings, name)
        except MedtuiError as e:
            self.call_from_thread(self._error, e)
            self.call_from_thread(self._update_status)
            return
        self.call_from_thread(self._model_ready, engine, save)

    def _model_ready(self, engine: Engine, save: bool = False) -> None:
        old, self.engine = self.engine, engine
        self.model_name = engine.spec.name
        if old is not None and not self.generating:
            old.close()
        self._update_status()
        self._describe_welcome()
        self.notify(f"model ready: {engine.spec.name}")
        if save:
            try:
                self.notify(save_settings({"model": engine.spec.name}).describe())
            except MedtuiError as e:
                self._error(e)

    # -- messages from widgets ---------------------------------------------------
    @on(PromptInput.QuestionSubmitted)
    def _on_question(self, event: PromptInput.QuestionSubmitted) -> None:
        self.ask(event.question)

    @on(Welcome.ExampleChosen)
    def _on_example(self, event: Welcome.ExampleChosen) -> None:
        self.query_one(PromptInput).focus()
        self.ask(event.question)

    @on(SourcesPanel.SourceSelected)
    @on(AnswerView.CitationSelected)
    def _on_source(self, event: SourcesPanel.SourceSelected | AnswerView.CitationSelected) -> None:
        self.push_screen(PassageScreen(event.record))

    @on(AnswerView.Selected)
    def _on_answer_selected(self, event: AnswerView.Selected) -> None:
        """An answer was selected in the chat: the Sources panel shows its own sources."""
        view = event.view
        panel = self.query_one(SourcesPanel)
        panel.show(view.sources, view.notices, view.rag, answer_number=view.number)
        panel.show_support(view.sentences)

    @on(AnswerView.BrowseEnded)
    def _on_browse_ended(self, event: AnswerView.BrowseEnded) -> None:
        self.query_one(PromptInput).type_in(event.typed)

    @on(PromptInput.BrowseRequested)
    def _on_browse(self) -> None:
        """Up in the question box: the example questions of an empty chat, else the latest answer."""
        if welcome := self.query(Welcome):
            welcome.first(Welcome).choose()
        elif answers := self.query(AnswerView):
            answers.last(AnswerView).focus()

    @on(HistorySidebar.Opened)
    def _on_open(self, event: HistorySidebar.Opened) -> None:
        if self.generating:
            self.notify("wait for the answer to finish (or press Esc) before switching", severity="warning")
            return
        self.open_conversation(event.conversation_id)

    @on(HistorySidebar.RenameRequested)
    def _on_rename(self, event: HistorySidebar.RenameRequested) -> None:
        def done(title: str | None) -> None:
            if title:
                self.history.rename(event.conversation_id, title)
                self._refresh_history()

        self.push_screen(RenameScreen(event.title), done)

    @on(HistorySidebar.DeleteRequested)
    def _on_delete(self, event: HistorySidebar.DeleteRequested) -> None:
        if self.generating and event.conversation_id == self.conversation_id:
            self.notify("this conversation is answering: press Esc first", severity="warning")
            return
        self.history.delete(event.conversation_id)
        if event.conversation_id == self.conversation_id:
            self.action_new_chat()
        self._refresh_history()
        self.notify("conversation deleted")

    @on(HistorySidebar.ExportRequested)
    def _on_export(self, event: HistorySidebar.ExportRequested) -> None:
        path = export_conversation(self.history, event.conversation_id)
        self.notify(f"exported to {path}")

    # -- actions -----------------------------------------------------------------
    def action_cancel(self) -> None:
        """Esc stops the answer first; with none streaming, an index build and the dense phase."""
        if self.generating:
            self._stop_answer.set()
            return
        if self.query_one(StatusBar).has_class("progress"):
            self._stop_indexing.set()
        self._cancel_dense()
        if isinstance(self.focused, AnswerView):  # nothing to stop there: Esc leaves the answers for the question
            self.query_one(PromptInput).focus()

    def action_switch_model(self) -> None:
        try:
            specs = Registry().all()
        except MedtuiError as e:
            self._error(e)
            return

        def chosen(name: str | None) -> None:
            self.query_one(PromptInput).focus()  # back to typing, however the switcher was opened
            if name and name != (self.engine.spec.name if self.engine else None):
                self.load_model(name, save=True)

        self.push_screen(
            ModelSwitcher(specs, self.model_name, self.settings.n_ctx, self.settings.memory_limit_bytes), chosen
        )

    def action_evaluate(self) -> None:
        self._show(EvalScreen, lambda: EvalScreen(self.settings, self.eval_form))

    def action_train(self) -> None:
        self._show(TrainScreen, lambda: TrainScreen(self.model_name, self.train_form))

    def action_export(self) -> None:
        self._show(ExportScreen, ExportScreen)

    def _show(self, kind: type[Screen], make: Callable[[], Screen]) -> None:
        """One screen of a kind at a time (also from the palette, which calls actions directly): over
        itself its key does nothing, and under others (F4, then F5, then F4) the screens above it
        close and it comes back as it was, a run in it going on, rather than a second copy."""
        if isinstance(self.screen, kind):
            return
        if any(isinstance(screen, kind) for screen in self.screen_stack):
            while not isinstance(self.screen, kind):
                self.pop_screen()
        else:
            self.push_screen(make())

    @on(ExportScreen.Exported)
    def _on_exported(self, event: ExportScreen.Exported) -> None:
        self.notify(f"exported and registered {event.name}: switch to it with ctrl+o")

    def action_toggle_panels(self) -> None:
        """Wide, hides or shows both side panels. Below 120 columns, where they are hidden, each
        press shows one over the chat in turn: sources, then history, then neither (both at once
        would leave the answer a few columns). app.tcss places them from the screen's classes. The
        chat rewraps to its new width: the reader stays where they were reading."""
        screen = self.screen
        log = self.query_one(MessageLog)
        place = log.place()
        if not screen.has_class("-narrow"):
            screen.toggle_class("-panels-toggled")
        elif screen.has_class("-drawer-sources"):
            screen.remove_class("-drawer-sources").add_class("-drawer-history")
            self.call_after_refresh(self.query_one(HistorySidebar).focus_list)
        elif screen.has_class("-drawer-history"):
            screen.remove_class("-drawer-history")
        else:
            screen.add_class("-drawer-sources")
        self.call_after_refresh(log.keep, place)
        self.call_after_refresh(self._refocus)

    def _focus_changed(self, focused: Widget | None) -> None:
        if focused is None:
            self.call_after_refresh(self._refocus)

    def _refocus(self) -> None:
        """A panel hidden with the focus in it would leave the keys going nowhere: typing is next."""
        if self.focused is None or self.focused not in self.screen.focus_chain:
            self.query_one(PromptInput).focus()

    def action_toggle_reasoning(self) -> None:
        views = [v for v in self.query(AnswerView) if v.has_class("has-reasoning")]
        if not views:
            self.notify("no reasoning to show in this conversation")
            return
        for view in views:
            view.toggle_reasoning()

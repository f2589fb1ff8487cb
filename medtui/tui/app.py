"""The chat app: composes the widgets, reacts to their messages, runs slow work in workers.

Everything medical happens in the services (medtui.chat, medtui.core.rag, medtui.core.engines); this
layer only moves their events onto the screen.
"""

import threading
from collections.abc import Iterable

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, Header

from medtui.chat.export import export_conversation
from medtui.chat.service import ChatService, Done, Sources, Token, clean_question, source_records
from medtui.core.config import Settings
from medtui.core.engines import Engine
from medtui.core.errors import MedtuiError
from medtui.core.formatting import conversation_title
from medtui.core.history import History
from medtui.core.rag.gate import SearchMode
from medtui.core.rag.index import Cancelled, Progress, SnippetIndex, list_indexes
from medtui.core.rag.retriever import Retriever
from medtui.core.rag.sources import resolve_source
from medtui.core.rate import RateMeter
from medtui.core.records import MessageStatus
from medtui.core.registry import Registry
from medtui.core.wiring import open_engine, open_retriever
from medtui.tui.screens.eval_screen import EvalScreen
from medtui.tui.screens.export_screen import ExportScreen
from medtui.tui.screens.indexes import IndexAction, IndexesScreen, IndexRow
from medtui.tui.screens.passage import PassageScreen
from medtui.tui.screens.rename import RenameScreen
from medtui.tui.screens.retrieval_settings import RetrievalChoice, RetrievalSettings
from medtui.tui.screens.switcher import ModelSwitcher
from medtui.tui.screens.train_screen import TrainScreen
from medtui.tui.widgets.chat.answer_view import AnswerView, answer_state
from medtui.tui.widgets.chat.message_log import MessageLog
from medtui.tui.widgets.chat.prompt_input import PromptInput
from medtui.tui.widgets.history.history_sidebar import HistorySidebar
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from medtui.tui.widgets.status_bar import StatusBar


class MedtuiApp(App):
    TITLE = "medtui"
    SUB_TITLE = "local medical Q&A"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Stop", id="cancel"),
        Binding("ctrl+n", "new_chat", "New chat", id="new_chat"),
        Binding("ctrl+o", "switch_model", "Model", id="switch_model"),
        Binding("ctrl+r", "toggle_rag", "RAG on/off", id="toggle_rag"),
        Binding("f2", "retrieval_settings", "Retrieval", id="retrieval_settings"),
        Binding("f3", "indexes", "Indexes", id="indexes"),
        Binding("f4", "evaluate", "Benchmarks", id="evaluate"),
        Binding("f5", "train", "Train", id="train"),
        Binding("f6", "export", "Export", id="export"),
        Binding("ctrl+t", "toggle_reasoning", "Reasoning", id="toggle_reasoning"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

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

    # -- layout ----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            yield HistorySidebar()
            with Vertical(id="conversation"):
                yield MessageLog(id="log")
                yield PromptInput()
            yield SourcesPanel()
        yield StatusBar()
        yield Footer()

    def on_mount(self) -> None:
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        self._refresh_history()
        if self.history.notice:  # a damaged history was set aside: say so once
            self.notify(self.history.notice, severity="warning", timeout=15)
        self.query_one(PromptInput).focus()
        self._update_status()
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

    def on_unmount(self) -> None:
        self._stop_answer.set()
        self._stop_indexing.set()
        self._cancel_dense()  # its thread would keep Python from exiting until the whole phase ran

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Switch model", "Pick a base model, LoRA adapter or GGUF file", self.action_switch_model)
        yield SystemCommand("Toggle RAG", "Ground answers in retrieved sources, or not", self.action_toggle_rag)
        yield SystemCommand("Retrieval settings", "RAG on/off and top-k", self.action_retrieval_settings)
        yield SystemCommand("Indexes", "Use, resume, rebuild or add to a retrieval index", self.action_indexes)
        yield SystemCommand("Benchmarks", "Run MedQA, MedMCQA, PubMedQA, MMLU… and compare", self.action_evaluate)
        yield SystemCommand(
            "Train", "Train a LoRA adapter (SFT, continual pretraining, MSFT) and watch runs", self.action_train
        )
        yield SystemCommand("Export", "Merge a LoRA and export a verified GGUF (f16, q8_0, q4_k_m)", self.action_export)
        yield SystemCommand("New chat", "Start a new conversation", self.action_new_chat)

    # -- status ----------------------------------------------------------------
    def _update_status(self, busy_text: str | None = None) -> None:
        self._busy_text = busy_text
        self._show_status()

    def _show_status(self) -> None:
        """Model, how retrieval searches now (keyword search only while the dense half of the index
        is missing: answers use it meanwhile, and the user must see that), then work in progress."""
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
                building = (
                    f" · building dense search: {self._dense_progress} (Esc stops)" if self._dense_progress else ""
                )
                parts.append("keyword search only" + building)
        if self._busy_text:
            parts.append(self._busy_text)
        busy = self._busy_text is not None or self._dense_progress is not None
        self.query_one(StatusBar).set_status(" · ".join(parts), busy=busy)

    def _error(self, error: Exception) -> None:
        self.notify(str(error), severity="error", timeout=10)

    # -- workers ---------------------------------------------------------------
    @work(thread=True, exclusive=True, group="model")
    def load_model(self, name: str) -> None:
        self.call_from_thread(self._update_status, f"loading {name}…")
        try:
            engine = open_engine(self.settings, name)
        except MedtuiError as e:
            self.call_from_thread(self._error, e)
            self.call_from_thread(self._update_status)
            return
        self.call_from_thread(self._model_ready, engine)

    def _model_ready(self, engine: Engine) -> None:
        old, self.engine = self.engine, engine
        self.model_name = engine.spec.name
        if old is not None and not self.generating:
            old.close()
        self._update_status()
        self.notify(f"model ready: {engine.spec.name}")

    def _index_progress(self, name: str) -> Progress:
        """A progress callback for worker threads: bar, snippets/s and ETA in the status bar."""
        status, meter = self.query_one(StatusBar), RateMeter()
        self._stop_indexing.clear()

        def progress(done: int, total: int | None) -> None:
            self.call_from_thread(status.set_progress, done, total)
            self.call_from_thread(self._update_status, f"indexing {name}: {meter.describe(done, total)} (Esc stops)")

        return progress

    @work(thread=True, exclusive=True, group="index")
    def load_index(self) -> None:
        progress = self._index_progress(self.settings.index)
        try:  # served after its keyword phase (seconds): the dense phase follows in `build_dense`
            retriever = open_retriever(self.settings.replace(rag=True), progress, self._stop_indexing, dense_now=False)
        except (MedtuiError, Cancelled) as e:
            self.call_from_thread(self._error, e)
            retriever = None
        self.call_from_thread(self._index_ready, retriever)

    @work(thread=True, exclusive=True, group="build")
    def build_index(self, action: IndexAction) -> None:
        progress = self._index_progress(action.name)
        try:
            index = SnippetIndex(action.name)
            if action.name == self._dense_name:
                with self._dense_lock:  # its dense phase, stopped for this build, ends its batch first
                    pass
            if action.kind == "add":
                manifest = index.add([resolve_source(action.source)], progress=progress, cancel=self._stop_indexing)
            else:
                manifest = index.rebuild(progress, self._stop_indexing)
            self.call_from_thread(self._index_built, action.name, manifest.bm25_count)
        except (MedtuiError, Cancelled) as e:
            self.call_from_thread(self._error, e)
        finally:
            self.call_from_thread(self.query_one(StatusBar).set_progress, None, None)
            self.call_from_thread(self._update_status)

    def _index_built(self, name: str, count: int) -> None:
        self.notify(f"index {name} ready: {count} snippets")
        if name == self.settings.index and self.rag:
            self.retriever = None
            self.load_index()  # serve the new contents

    def _index_ready(self, retriever: Retriever | None) -> None:
        self.retriever = retriever
        self.query_one(StatusBar).set_progress(None, None)
        self._update_status()
        if retriever is not None and retriever.dense_pending():
            self._cancel_dense()
            self._stop_dense, self._dense_name = threading.Event(), retriever.index.name
            self._dense_progress = "starting…"
            self._show_status()
            self.build_dense(retriever, self._stop_dense)

    # -- the dense phase in the background ------------------------------------------
    def _cancel_dense(self) -> None:
        """Stop the dense phase if one runs (it resumes on the next start); answers go on with keyword search."""
        if self._stop_dense is not None:
            self._stop_dense.set()

    @work(thread=True, exclusive=True, group="dense")
    def build_dense(self, retriever: Retriever, stop: threading.Event) -> None:
        """Embed what the index's keyword phase stored, then serve hybrid search: questions are
        answered with keyword search meanwhile."""
        meter = RateMeter()

        def progress(done: int, total: int | None) -> None:
            if not stop.is_set():  # stopped (also when the app closes): the next batch raises Cancelled
                self.call_from_thread(self._dense_step, stop, done, total, meter.describe(done, total))

        with self._dense_lock:
            try:
                if stop.is_set():
                    raise Cancelled(f"building dense search of {retriever.index.name!r} stopped before it began")
                retriever.index.embed_pending(progress, stop)
                fresh = Retriever(retriever.index, retriever.options)  # loads the query embedder now
            except (MedtuiError, Cancelled) as e:
                outcome: Retriever | Exception = e
            else:
                outcome = fresh
        try:
            self.call_from_thread(self._dense_done, retriever, stop, outcome)
        except RuntimeError:  # the app closed (and stopped it): nothing left to show
            pass

    def _dense_step(self, stop: threading.Event, done: int, total: int | None, described: str) -> None:
        if stop is not self._stop_dense or stop.is_set():
            return  # a stopped phase reporting its last batch
        self._dense_progress = described
        self.query_one(StatusBar).set_progress(done, total)
        self._show_status()

    def _dense_done(self, retriever: Retriever, stop: threading.Event, outcome: Retriever | Exception) -> None:
        if stop is self._stop_dense:
            self._stop_dense, self._dense_progress = None, None
            self.query_one(StatusBar).set_progress(None, None)
        if isinstance(outcome, Cancelled):
            if self.retriever is retriever:  # not when the user switched index, which stopped it
                self.notify(
                    f"building dense search of {retriever.index.name} stopped: answers use keyword search; "
                    "it resumes on the next start",
                    severity="warning",
                )
        elif isinstance(outcome, Exception):
            self._error(outcome)
        elif self.retriever is retriever:
            self.retriever = outcome
            self.notify(f"hybrid search ready: {retriever.index.name} now answers with dense and keyword search")
        self._show_status()

    @work(thread=True, exclusive=True, group="answer")
    def answer(self, question: str) -> None:
        service = ChatService(self.settings, self.engine, self.history, self.retriever)
        log = self.query_one(MessageLog)
        view = None
        try:
            if self.conversation_id is None:
                self.conversation_id = self.history.new_conversation(
                    conversation_title(question), self.engine.spec.name
                )
                self.call_from_thread(self._refresh_history)
            for event in service.answer(
                self.conversation_id, question, self._stop_answer, rag=self.rag, top_k=self.top_k
            ):
                if isinstance(event, Sources):
                    fresh = self.call_from_thread(
                        self.query_one(SourcesPanel).show,
                        source_records(event.hits),
                        event.notices,
                        self.rag,
                        event.grounded,
                    )
                    for notice in fresh:  # the header keeps every notice; a toast only for news
                        self.call_from_thread(self.notify, notice, severity="warning")
                    self.call_from_thread(log.add_question, question)
                    view = self.call_from_thread(log.add_answer, self.engine.spec.name)
                elif isinstance(event, Token):
                    view.append(event.text)  # plain string append; the view repaints on its own timer
                elif isinstance(event, Done):  # a refused question has a text but streamed none
                    self.call_from_thread(view.finish, answer_state(event.status, event.notices), event.text)
        except MedtuiError as e:
            self.call_from_thread(self._error, e)
            if view is not None:
                self.call_from_thread(view.finish, answer_state(MessageStatus.ERROR))
            elif not self.history.messages(self.conversation_id):  # refused before anything was saved
                self.history.delete(self.conversation_id)
                self.conversation_id = None
                self.call_from_thread(self._refresh_history)
        finally:
            self.generating = False
            self.call_from_thread(self._update_status)

    # -- messages from widgets ---------------------------------------------------
    @on(PromptInput.QuestionSubmitted)
    def _on_question(self, event: PromptInput.QuestionSubmitted) -> None:
        try:
            question = clean_question(event.question)
        except MedtuiError as e:
            self._error(e)
            return
        if self.generating:
            self.notify("an answer is still streaming: press Esc to stop it first", severity="warning")
        elif self.engine is None:
            self.notify("the model is still loading: try again in a moment", severity="warning")
        elif self.rag and self.retriever is None:
            if any(w.group == "index" and w.is_running for w in self.workers):
                self.notify(
                    "the index is still building: wait for it, or turn retrieval off with ctrl+r", severity="warning"
                )
            else:
                self.notify(
                    "no index is loaded (see the error): turn retrieval off with ctrl+r, or retry with F2",
                    severity="error",
                )
        else:
            self.generating = True
            self._stop_answer.clear()
            self._update_status("answering… (Esc stops)")
            self.answer(question)

    @on(SourcesPanel.SourceSelected)
    def _on_source(self, event: SourcesPanel.SourceSelected) -> None:
        self.push_screen(PassageScreen(event.record))

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

    # -- conversations -----------------------------------------------------------
    def _refresh_history(self) -> None:
        self.query_one(HistorySidebar).show(self.history.conversations(), self.conversation_id)

    def open_conversation(self, conversation_id: int) -> None:
        self.conversation_id = conversation_id
        log = self.query_one(MessageLog)
        log.clear()
        last_sources: list[dict] = []
        for m in self.history.messages(conversation_id):
            if m.role == "user":
                log.add_question(m.content)
            else:
                log.add_answer(m.model, m.content, answer_state(m.status))
                last_sources = m.sources
        self.query_one(SourcesPanel).show(last_sources)

    # -- actions -----------------------------------------------------------------
    def action_cancel(self) -> None:
        """Esc stops the answer first; with none streaming, an index build and the dense phase."""
        if self.generating:
            self._stop_answer.set()
            return
        if self.query_one(StatusBar).has_class("progress"):
            self._stop_indexing.set()
        self._cancel_dense()

    def action_new_chat(self) -> None:
        if self.generating:
            self.notify("an answer is still streaming: press Esc to stop it first", severity="warning")
            return
        self.conversation_id = None
        self.query_one(MessageLog).clear()
        self.query_one(SourcesPanel).show([])
        self._refresh_history()
        self.query_one(PromptInput).focus()

    def action_switch_model(self) -> None:
        try:
            specs = Registry().all()
        except MedtuiError as e:
            self._error(e)
            return

        def chosen(name: str | None) -> None:
            if name and name != (self.engine.spec.name if self.engine else None):
                self.load_model(name)

        self.push_screen(ModelSwitcher(specs, self.model_name), chosen)

    def _set_rag(self, rag: bool) -> None:
        self.rag = rag
        if rag and self.retriever is None:
            self.load_index()
        self.query_one(SourcesPanel).set_rag(rag)
        self._update_status()

    def action_toggle_rag(self) -> None:
        self._set_rag(not self.rag)
        self.notify(f"retrieval {'on' if self.rag else 'off'}")

    def _drop_retriever(self) -> None:
        """The index or its retrievers change: stop its dense phase; `_set_rag` loads the new one."""
        self._cancel_dense()
        self.retriever = None

    def action_retrieval_settings(self) -> None:
        s, r = self.settings, self.retriever
        current = RetrievalChoice(self.rag, self.top_k, s.index, s.dense, s.bm25, s.require_sources)
        rule = r.gate.rule(r.mode()).describe() if r is not None else ""

        def done(choice: RetrievalChoice | None) -> None:
            if not choice:
                return
            self.top_k = choice.top_k
            self.settings = self.settings.replace(require_sources=choice.require_sources)
            if (choice.index, choice.dense, choice.bm25) != (s.index, s.dense, s.bm25):
                self.settings = self.settings.replace(index=choice.index, dense=choice.dense, bm25=choice.bm25)
                self._drop_retriever()  # reloaded below for the new index or retrievers
            self._set_rag(choice.rag)

        self.push_screen(RetrievalSettings(current, list_indexes(), rule), done)

    def action_indexes(self) -> None:
        rows = []
        for name in list_indexes():
            try:
                m = SnippetIndex(name).manifest()
                rows.append(
                    IndexRow(name, m.bm25_count, m.state, ", ".join(str(e.get("location", "?")) for e in m.sources))
                )
            except MedtuiError as e:
                rows.append(IndexRow(name, 0, "unreadable", str(e)))

        def done(action: IndexAction | None) -> None:
            if action is None:
                return
            if action.kind == "use":
                self.settings = self.settings.replace(index=action.name)
                self._drop_retriever()
                self._set_rag(True)
            elif any(w.group == "build" and w.is_running for w in self.workers):
                self.notify("an index is already building: wait for it or press Esc", severity="warning")
            else:
                if action.name == self.settings.index:
                    self._drop_retriever()  # not served while it is rebuilt or extended
                self.build_index(action)

        self.push_screen(IndexesScreen(rows, self.settings.index), done)

    def action_evaluate(self) -> None:
        self.push_screen(EvalScreen(self.settings))

    def action_train(self) -> None:
        self.push_screen(TrainScreen(self.model_name))

    def action_export(self) -> None:
        self.push_screen(ExportScreen())

    @on(ExportScreen.Exported)
    def _on_exported(self, event: ExportScreen.Exported) -> None:
        self.notify(f"exported and registered {event.name}: switch to it with ctrl+o")

    def action_toggle_reasoning(self) -> None:
        views = [v for v in self.query(AnswerView) if v.has_class("has-reasoning")]
        if not views:
            self.notify("no reasoning to show in this conversation")
            return
        for view in views:
            view.toggle_reasoning()

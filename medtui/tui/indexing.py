"""The chat app's retrieval side: loading the index in a worker, building or extending one, the
dense phase in the background, and the retrieval actions (ctrl+r, F2, F3).

A mixin of MedtuiApp (medtui.tui.app), which routes the widgets' messages; it uses the app's
settings, status bar and Sources panel.
"""

import threading

from textual import work

from medtui.core.errors import MedtuiError
from medtui.core.rag.index import Cancelled, Progress, SnippetIndex, list_indexes
from medtui.core.rag.retriever import Retriever
from medtui.core.rag.sources import resolve_source
from medtui.core.rate import RateMeter
from medtui.core.wiring import open_retriever
from medtui.tui.screens.indexes import IndexAction, IndexesScreen, IndexRow
from medtui.tui.screens.retrieval_settings import RetrievalChoice, RetrievalSettings
from medtui.tui.widgets.sources.sources_panel import SourcesPanel
from medtui.tui.widgets.status_bar import StatusBar


class IndexingMixin:
    """Index loading and building for MedtuiApp."""

    retrieval_error = ""  # why the last load of the retriever failed, repeated when a question needs it

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
        self.retrieval_error = ""
        try:  # served after its keyword phase (seconds): the dense phase follows in `build_dense`
            retriever = open_retriever(self.settings.replace(rag=True), progress, self._stop_indexing, dense_now=False)
        except (MedtuiError, Cancelled) as e:
            self.call_from_thread(self._retrieval_failed, e)
            retriever = None
        self.call_from_thread(self._index_ready, retriever)

    def _retrieval_failed(self, error: Exception) -> None:
        """Keep why with its toast in one step on the app's thread, so no one sees the one without the other."""
        self.retrieval_error = str(error)
        self._error(error)

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
        self._describe_welcome()
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

    def _set_rag(self, rag: bool) -> None:
        self.rag = rag
        if rag and self.retriever is None:
            self.load_index()
        self.query_one(SourcesPanel).set_rag(rag)
        self._update_status()
        self._describe_welcome()

    def action_toggle_rag(self) -> None:
        self._set_rag(not self.rag)
        self.notify(f"retrieval {'on' if self.rag else 'off'}")

    def _drop_retriever(self) -> None:
        """The index or its retrievers change: stop its dense phase; `_set_rag` loads the new one."""
        self._cancel_dense()
        self.retriever = None

    def action_retrieval_settings(self) -> None:
        if isinstance(self.screen, RetrievalSettings):  # from the palette over F2: one F2 at a time
            return
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
        if isinstance(self.screen, IndexesScreen):
            return
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

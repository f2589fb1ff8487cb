"""The chat app's answering: a question is asked (or queued while an answer streams), streamed in a
worker into the chat and the Sources panel, then attributed sentence by sentence in another.

A mixin of MedtuiApp (medtui.tui.app), which routes the widgets' messages.
"""

from textual import work

from medtui.chat.service import ChatService, Done, Sources, Token, clean_question, source_records
from medtui.core.config import answer_settings
from medtui.core.errors import MedtuiError
from medtui.core.formatting import conversation_title
from medtui.core.records import MessageStatus
from medtui.tui.widgets.chat.answer_view import AnswerView, answer_state
from medtui.tui.widgets.chat.message_log import MessageLog
from medtui.tui.widgets.chat.prompt_input import PromptInput
from medtui.tui.widgets.sources.sources_panel import SourcesPanel

QUEUED = "queued: will be asked when this answer ends"


class AnsweringMixin:
    """Asking, streaming and attributing answers for MedtuiApp."""

    @work(thread=True, exclusive=True, group="answer")
    def answer(self, question: str) -> None:
        service = ChatService(self.settings, self.engine, self.history, self.retriever)
        log = self.query_one(MessageLog)
        view = None
        sources = done = None
        try:
            if self.conversation_id is None:
                self.conversation_id = self.history.new_conversation(
                    conversation_title(question),
                    self.engine.spec.name,
                    "tui",
                    answer_settings(self.settings.replace(rag=self.rag, top_k=self.top_k)),
                )
                self.call_from_thread(self._refresh_history)
            for event in service.answer(
                self.conversation_id, question, self._stop_answer, rag=self.rag, top_k=self.top_k
            ):
                if isinstance(event, Sources):
                    sources = event
                    records = source_records(event.hits)
                    panel = self.query_one(SourcesPanel)
                    fresh = self.call_from_thread(panel.show, records, event.notices, self.rag)
                    for notice in fresh:  # the header keeps every notice; a toast only for news
                        self.call_from_thread(self.notify, notice, severity="warning")
                    self.call_from_thread(log.add_question, question)
                    answer = AnswerView(self.engine.spec.name, sources=records, notices=event.notices, rag=self.rag)
                    view = self.call_from_thread(log.add_answer, answer)
                elif isinstance(event, Token):
                    view.append(event.text)  # plain string append; the view repaints on its own timer
                elif isinstance(event, Done):  # a refused question has a text but streamed none
                    done = event
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
            self.call_from_thread(self._answer_ended)
        if view is not None and sources is not None and done is not None:
            self.call_from_thread(self.attribute, service, view, done, sources)

    @work(thread=True, group="attribution")
    def attribute(self, service: ChatService, view: AnswerView, done: Done, sources: Sources) -> None:
        """After the last token (the next question need not wait): which source supports each sentence."""
        self.call_from_thread(view.set_checking, True)
        sentences = []
        try:
            sentences = service.attribute(done, sources)
        except MedtuiError as e:
            self.call_from_thread(self._error, e)
        finally:
            records = source_records(sources.hits)
            self.call_from_thread(view.show_attribution, sentences, records)
        panel = self.query_one(SourcesPanel)
        if sentences and panel.records == records:  # still this answer's sources
            self.call_from_thread(panel.show_support, sentences)

    def _answer_ended(self) -> None:
        """The answer ended: ask the question queued while it streamed, if any."""
        queued, self.queued = self.queued, None
        self._update_status()
        if queued is not None:
            self.ask(queued)

    def ask(self, text: str) -> None:
        """Ask `text` (typed or an example): the question box is cleared once it is taken; while an
        answer streams it stays there, queued, and is asked when that answer ends."""
        try:
            question = clean_question(text)
        except MedtuiError as e:
            self._error(e)
            return
        prompt = self.query_one(PromptInput)
        if self.generating:
            self.queued = text
            self._show_status()
            self.notify(f"{QUEUED} (Esc stops the answer)")
        elif self.engine is None:
            self.notify("the model is still loading: try again in a moment", severity="warning")
        elif self.rag and self.retriever is None:
            if any(w.group == "index" and w.is_running for w in self.workers):
                self.notify(
                    "the index is still building: wait for it, or turn retrieval off with ctrl+r", severity="warning"
                )
            else:
                why = self.retrieval_error or "no index is loaded"  # the toast that said why may be gone
                self.notify(
                    f"retrieval could not start ({why}): turn it off with ctrl+r, or fix it and retry with F2",
                    severity="error",
                )
        else:
            if prompt.value == text:
                prompt.value = ""
            self.generating = True
            self._stop_answer.clear()
            self._update_status("answering… (Esc stops)")
            self.answer(question)

"""The chat app's conversations: the History sidebar's list, reopening one (each answer with its
own sources), a new chat, and the palette's rename / delete / export of the open conversation.

A mixin of MedtuiApp (medtui.tui.app), which routes the History sidebar's messages.
"""

from medtui.core.rag.attribution import Sentence
from medtui.tui.widgets.chat.answer_view import AnswerView, answer_state
from medtui.tui.widgets.chat.message_log import MessageLog
from medtui.tui.widgets.chat.prompt_input import PromptInput
from medtui.tui.widgets.history.history_sidebar import HistorySidebar
from medtui.tui.widgets.sources.sources_panel import SourcesPanel


class ConversationsMixin:
    """Conversations for MedtuiApp."""

    def _refresh_history(self) -> None:
        self.query_one(HistorySidebar).show(self.history.conversations(), self.conversation_id)

    def open_conversation(self, conversation_id: int) -> None:
        """Each answer with its own sources and retrieval notices; the latest's in the Sources panel."""
        self.conversation_id = conversation_id
        log = self.query_one(MessageLog)
        log.clear()
        panel = self.query_one(SourcesPanel)
        panel.clear(self.rag)
        # an answer that did not record its retrieval (older medtui): one with sources had it on,
        # one without had the conversation's setting
        began_with_rag = self.history.conversation(conversation_id).settings.get("rag", True)
        messages = self.history.messages(conversation_id)
        latest: AnswerView | None = None
        for m in messages:
            if m.role == "user":
                log.add_question(m.content)
                continue
            rag = m.rag if m.rag is not None else bool(m.sources) or began_with_rag
            sentences = [Sentence.from_dict(d) for d in m.sentences]
            state = answer_state(m.status)
            latest = log.add_answer(AnswerView(m.model, m.content, state, sentences, m.sources, m.notices, rag))
        if latest is not None:
            panel.show(latest.sources, latest.notices, latest.rag)
            panel.show_support(latest.sentences)

    def action_new_chat(self) -> None:
        if self.generating:
            self.notify("an answer is still streaming: press Esc to stop it first", severity="warning")
            return
        self.conversation_id = None
        self.query_one(MessageLog).clear(welcome=True)
        self.query_one(SourcesPanel).clear(self.rag)
        self._refresh_history()
        self.call_after_refresh(self._describe_welcome)
        self.query_one(PromptInput).focus()

    def _current_conversation(self) -> int | None:
        if self.conversation_id is None:
            self.notify("no conversation yet: ask a question first", severity="warning")
        return self.conversation_id

    def action_rename(self) -> None:
        if (cid := self._current_conversation()) is not None:
            title = next((c.title for c in self.history.conversations() if c.id == cid), "")
            self._on_rename(HistorySidebar.RenameRequested(cid, title))

    def action_delete(self) -> None:
        if (cid := self._current_conversation()) is not None:
            self.query_one(HistorySidebar).confirm_delete(cid)  # asks first, as d in History does

    def action_export_chat(self) -> None:
        if (cid := self._current_conversation()) is not None:
            self._on_export(HistorySidebar.ExportRequested(cid))

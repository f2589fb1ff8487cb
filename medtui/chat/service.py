"""One answer, end to end: retrieve, fit the prompt, stream, and record as it streams.

Used alike by `medtui ask` and the TUI, which only render the events it yields.
"""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from medtui.core.config import Settings
from medtui.core.engines.base import Engine, GenerationParams
from medtui.core.errors import MedtuiError
from medtui.core.history import History
from medtui.core.rag.prompt import fit_prompt
from medtui.core.rag.retriever import Retriever
from medtui.core.rag.snippet import Hit
from medtui.core.reasoning import split_reasoning
from medtui.core.records import MessageStatus
from medtui.core.text import check_utf8


@dataclass(frozen=True)
class Sources:
    """The passages in the prompt, numbered from 1, and anything left out to fit."""

    hits: list[Hit]
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Done:
    message_id: int
    text: str
    cancelled: bool


Event = Sources | Token | Done


def source_records(hits: list[Hit]) -> list[dict]:
    """What the history keeps of each cited source, so a reopened chat can still show it."""
    return [
        {
            "n": i,
            "id": h.snippet.id,
            "title": h.snippet.title,
            "source": h.snippet.source,
            "text": h.snippet.text,
            "doc_id": h.snippet.doc_id,
            "position": h.snippet.position,
            "score": h.score,
            "scores": h.scores,
        }
        for i, h in enumerate(hits, 1)
    ]


def clean_question(question: str) -> str:
    question = check_utf8(question, "the question").strip()
    if not question:
        raise MedtuiError("the question is empty: type a question")
    return question


class ChatService:
    def __init__(self, settings: Settings, engine: Engine, history: History, retriever: Retriever | None) -> None:
        self.settings = settings
        self.engine = engine
        self.history = history
        self.retriever = retriever

    def _past_turns(self, conversation_id: int) -> list[dict[str, str]]:
        turns = []
        for m in self.history.messages(conversation_id):
            content = split_reasoning(m.content).answer if m.role == "assistant" else m.content
            if m.status in (MessageStatus.COMPLETE, MessageStatus.CANCELLED) and content:
                turns.append({"role": m.role, "content": content})
        return turns

    def answer(
        self,
        conversation_id: int,
        question: str,
        cancel: threading.Event | None = None,
        rag: bool | None = None,
        top_k: int | None = None,
    ) -> Iterator[Event]:
        """Stream one answer into `conversation_id`. If it fails before the question is saved
        (bad question, no index, too long for the context), a conversation left with no message
        (one made for this question) is deleted, so a refused question leaves no empty chat."""
        cancel = cancel or threading.Event()
        try:
            settings = self.settings.replace(rag=rag, top_k=top_k)
            question = clean_question(question)
            hits: list[Hit] = []
            if settings.rag:
                if self.retriever is None:
                    raise MedtuiError("retrieval is on but no index is loaded: build one or turn RAG off")
                hits = self.retriever.search(question, settings.top_k)
            past = self._past_turns(conversation_id)
            fitted = fit_prompt(self.engine, settings.system_prompt, past, question, hits, settings.max_tokens)
        except BaseException:
            if not self.history.messages(conversation_id):
                self.history.delete(conversation_id)
            raise
        model = self.engine.spec.name
        self.history.add_message(conversation_id, "user", question)
        message_id = self.history.add_message(
            conversation_id, "assistant", "", source_records(fitted.hits), status=MessageStatus.STREAMING, model=model
        )
        yield Sources(fitted.hits, fitted.notices)
        params = GenerationParams(
            max_tokens=min(settings.max_tokens, self.engine.n_ctx - fitted.tokens),
            temperature=settings.temperature,
            seed=settings.seed,
        )
        text = ""
        try:
            for piece in self.engine.stream(fitted.prompt, params, cancel):
                text += piece
                self.history.update_message(message_id, text)  # saved before it is shown
                yield Token(piece)
        except GeneratorExit:  # the caller stopped reading: keep what was shown
            self.history.update_message(message_id, text, MessageStatus.CANCELLED)
            raise
        except BaseException:
            self.history.update_message(message_id, text, MessageStatus.ERROR)
            raise
        cancelled = cancel.is_set()
        self.history.update_message(message_id, text, MessageStatus.CANCELLED if cancelled else MessageStatus.COMPLETE)
        yield Done(message_id, text, cancelled)

"""One answer, end to end: retrieve, fit the prompt, stream, and record as it streams.

Used alike by `medtui ask` and the TUI, which only render the events it yields.
"""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from medtui.chat.attribution import attribute_answer, attribution_notices
from medtui.chat.followup import rewritten_query, standalone_query
from medtui.chat.outcome import LABELS, UNGROUNDED, answer_status, status_notice
from medtui.core.config import Settings
from medtui.core.engines.base import Engine
from medtui.core.engines.sampling import generation_params
from medtui.core.errors import MedtuiError
from medtui.core.history import History, Message
from medtui.core.rag.attribution import Sentence
from medtui.core.rag.embedder import DEFAULT_EMBEDDER
from medtui.core.rag.prompt import fit_prompt
from medtui.core.rag.retriever import Retrieval, Retriever
from medtui.core.rag.snippet import Hit
from medtui.core.reasoning import split_reasoning
from medtui.core.records import MessageStatus
from medtui.core.text import check_utf8


@dataclass(frozen=True)
class Sources:
    """The passages in the prompt, numbered from 1, and what the user must know about them."""

    hits: list[Hit]
    notices: list[str] = field(default_factory=list)
    grounded: bool | None = None  # None: retrieval is off; False: nothing passed the relevance gate
    query: str = ""  # what was searched (a follow-up is searched with the questions before it)


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Done:
    message_id: int
    text: str
    status: MessageStatus
    notices: list[str] = field(default_factory=list)  # how it ended, when not well (cut, empty, refused)

    @property
    def cancelled(self) -> bool:
        return self.status is MessageStatus.CANCELLED


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
            "reference": h.snippet.reference,
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

    def _past(self, conversation_id: int) -> tuple[list[dict[str, str]], list[str]]:
        """The turns fed back into the prompt (an answer that is empty or refused is left out with
        its question), and every earlier question (what a follow-up is searched with)."""
        turns: list[dict[str, str]] = []
        questions: list[str] = []
        asked: Message | None = None
        for m in self.history.messages(conversation_id):
            if m.role == "user":
                asked = m
                questions.append(m.content)
                continue
            answer = split_reasoning(m.content).answer
            if asked is not None and m.status.fed_back and answer:
                turns += [{"role": "user", "content": asked.content}, {"role": "assistant", "content": answer}]
            asked = None
        return turns, questions

    def _query(self, question: str, earlier: list[str], settings: Settings, cancel: threading.Event) -> str:
        if not settings.query_rewrite:
            return standalone_query(question, earlier, settings.followup_turns)

        def generate(messages: list[dict[str, str]]) -> str:
            prompt = self.engine.render_chat(messages)
            greedy = generation_params(settings.replace(temperature=0.0), self.engine.spec, 48)  # anti-loop too
            return "".join(self.engine.stream(prompt, greedy, cancel))

        return rewritten_query(question, earlier, settings.followup_turns, generate)

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
            past, earlier = self._past(conversation_id)
            retrieval = None
            if settings.rag:
                if self.retriever is None:
                    raise MedtuiError("retrieval is on but no index is loaded: build one or turn RAG off")
                retrieval = self.retriever.retrieve(self._query(question, earlier, settings, cancel), settings.top_k)
            hits = retrieval.hits if retrieval else []
            fitted = fit_prompt(
                self.engine, settings.system_prompt, past, question, hits, settings.max_tokens, settings.prompt_layout
            )
        except BaseException:
            if not self.history.messages(conversation_id):
                self.history.delete(conversation_id)
            raise
        model = self.engine.spec.name
        notices = (self._retrieval_notices(retrieval) if retrieval else []) + fitted.notices
        self.history.add_message(conversation_id, "user", question)
        message_id = self.history.add_message(
            conversation_id,
            "assistant",
            "",
            source_records(fitted.hits),
            status=MessageStatus.STREAMING,
            model=model,
            notices=notices,
            rag=retrieval is not None,
        )
        # grounded: a passage passed the gate and still fits the prompt (all may be left out to fit)
        grounded = bool(fitted.hits) if retrieval is not None else None
        yield Sources(fitted.hits, notices, grounded, retrieval.query if retrieval else "")
        if grounded is False and settings.require_sources:
            text = f"No source in {retrieval.index} covers this question, so no answer was generated."
            self.history.update_message(message_id, text, MessageStatus.REFUSED)
            yield Done(message_id, text, MessageStatus.REFUSED, [LABELS[MessageStatus.REFUSED]])
            return
        max_tokens = min(settings.max_tokens, self.engine.n_ctx - fitted.tokens)
        params = generation_params(settings, self.engine.spec, max_tokens)
        text = ""
        stream = self.engine.stream(fitted.prompt, params, cancel)
        try:
            while True:
                try:
                    piece = next(stream)
                except StopIteration as end:
                    finish = end.value
                    break
                text += piece
                self.history.update_message(message_id, text)  # saved before it is shown
                yield Token(piece)
        except GeneratorExit:  # the caller stopped reading: keep what was shown
            stream.close()
            self.history.update_message(message_id, text, MessageStatus.CANCELLED)
            raise
        except BaseException:
            self.history.update_message(message_id, text, MessageStatus.ERROR)
            raise
        status = answer_status(text, finish)
        self.history.update_message(message_id, text, status)
        ending = [n for n in [status_notice(status, max_tokens)] if n]
        if grounded is False:
            ending.append(UNGROUNDED)
        yield Done(message_id, text, status, ending)

    def attribute(self, done: Done, sources: Sources) -> list[Sentence]:
        """After an answer ended: which source supports each of its sentences (docs/grounding.md §8),
        kept in the history. Nothing when retrieval was off (nothing to check against) or the
        answer has no text (empty, refused, failed)."""
        if sources.grounded is None or not done.status.fed_back:
            return []
        embedder = self.retriever.query_embedder if self.retriever else DEFAULT_EMBEDDER
        rarity = self.retriever.index.document_share if self.retriever else None
        reranker = self.retriever.options.reranker if self.retriever else ""
        sentences = attribute_answer(done.text, source_records(sources.hits), embedder, rarity, reranker)
        self.history.set_sentences(done.message_id, [s.to_dict() for s in sentences])
        return sentences

    def _retrieval_notices(self, retrieval: Retrieval) -> list[str]:
        """The search's notices, and (with the sources, so the TUI toasts it once and `ask` notes it)
        a configured reranker that attribution does not use because it has no calibration."""
        return retrieval.notices() + attribution_notices(self.retriever.options.reranker, self.retriever.query_embedder)

"""`medtui ask`: one answer on stdout, then its numbered sources; for scripts.

Everything printed from data (the answer, titles, notices) goes through `printable`, so a
corpus or a model cannot send escape sequences to the user's terminal.
"""

import sys
from typing import Annotated

import typer

from medtui.chat.answer_record import DISCLAIMER, answer_record
from medtui.chat.attribution import rewrite, support_notices
from medtui.chat.service import ChatService, Done, Sources, Token, clean_question, source_records
from medtui.cli.options import with_settings
from medtui.cli.progress import live_text, progress_bar
from medtui.core.config import Settings, answer_settings
from medtui.core.errors import MedtuiError
from medtui.core.formatting import conversation_title
from medtui.core.history import History
from medtui.core.reasoning import split_reasoning
from medtui.core.text import printable, printable_json
from medtui.core.wiring import open_engine, open_retriever


def _read_stdin() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MedtuiError(f"stdin is not valid UTF-8 (byte {e.start}): re-encode the question as UTF-8") from None


@with_settings
def ask(
    question: Annotated[str, typer.Argument(help="The question, or - to read it from stdin.")],
    settings: Settings,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    question = clean_question(_read_stdin() if question == "-" else question)
    with progress_bar("building the default index") as progress:
        retriever = open_retriever(settings, progress, dense_now=False)  # keyword search at once
    engine = open_engine(settings)
    history = History()
    if history.notice:
        print(f"medtui: note: {printable(history.notice)}", file=sys.stderr)
    conversation = history.new_conversation(
        conversation_title(question), engine.spec.name, "cli", answer_settings(settings)
    )
    service = ChatService(settings, engine, history, retriever)
    sources: Sources | None = None
    done: Done | None = None
    streamed = ""
    with live_text(enabled=not as_json) as show:  # the answer as it streams, on a terminal; replaced below
        try:
            for event in service.answer(conversation, question):
                if isinstance(event, Sources):  # the question fits and is saved: an error from here on is not one line
                    sources = event
                    if not as_json:
                        print(f"medtui: {DISCLAIMER}", file=sys.stderr)
                        for notice in event.notices:
                            print(f"medtui: note: {printable(notice)}", file=sys.stderr)
                elif isinstance(event, Token):
                    streamed += event.text
                    show(printable(streamed))
                elif isinstance(event, Done):
                    done = event
        except KeyboardInterrupt:
            print(printable(streamed))  # what was generated stays on screen (and in the history)
            raise
    assert sources is not None and done is not None  # answer() always yields both, or raises
    sentences = service.attribute(done, sources)  # after the last token: never slows the answer
    if as_json:
        record = answer_record(
            question,
            engine.spec.name,
            done.text,
            done.status,
            bool(sources.grounded),
            sources.notices + done.notices + support_notices(sentences),  # what text mode notes on stderr
            source_records(sources.hits),
            [s.to_dict() for s in sentences],
        )
        print(printable_json(record))
        return
    split = split_reasoning(done.text)
    answer = rewrite(split.answer, sentences) if sentences else split.answer
    print(printable(f"<think>{split.reasoning}</think>\n{answer}" if split.reasoning else answer))
    for notice in done.notices + support_notices(sentences):
        print(f"medtui: note: {printable(notice)}", file=sys.stderr)
    if sources.hits:
        print("\nSources:")
        for i, hit in enumerate(sources.hits, 1):
            reference = f"; {printable(hit.snippet.reference)}" if hit.snippet.reference else ""
            print(f"[{i}] {printable(hit.snippet.title)} ({printable(hit.snippet.source)}{reference})")

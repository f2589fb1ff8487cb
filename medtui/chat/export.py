"""A conversation as a Markdown document: questions, answers (with their checked citations and
unsupported sentences marked, and their retrieval's notices), reasoning and cited sources."""

import re
from pathlib import Path

from medtui.chat.answer_record import DISCLAIMER
from medtui.chat.attribution import markdown_answer, support_notices
from medtui.chat.outcome import LABELS
from medtui.core import paths
from medtui.core.history import History, stamp
from medtui.core.rag.attribution import Sentence
from medtui.core.reasoning import split_reasoning
from medtui.core.records import MessageStatus

FRONT_ENDS = {"tui": "the chat app", "cli": "`medtui ask`"}


def describe_settings(settings: dict) -> str:
    """core.config.answer_settings() as one line; "" for a conversation that predates them. The
    search mode is the configured one: an answer given with less (keyword search only while the
    dense half was building) says so under it."""
    if not settings:
        return ""
    if not settings.get("rag", True):
        parts = ["retrieval off"]
    else:
        dense, bm25 = settings.get("dense", True), settings.get("bm25", True)
        mode = "hybrid" if dense and bm25 else "dense" if dense else "BM25"
        parts = [
            f"index {settings.get('index', '?')}",
            f"{mode} search configured",
            f"top-k {settings.get('top_k', '?')}",
        ]
        if settings.get("require_sources"):
            parts.append("answers only from sources")
        if settings.get("reranker"):
            parts.append(f"reranker {settings['reranker']}")
    if "temperature" in settings:
        parts.append(f"temperature {settings['temperature']}")
    return ", ".join(parts)


def conversation_markdown(history: History, conversation_id: int) -> str:
    conversation = history.conversation(conversation_id)
    lines = [f"# {conversation.title}", ""]
    about = [f"Started {stamp(conversation.created)}" if conversation.created else ""]
    about.append(f"asked in {FRONT_ENDS.get(conversation.source, conversation.source)}")
    if conversation.model:
        about.append(f"model {conversation.model}")
    if settings := describe_settings(conversation.settings):
        about.append(settings)
    lines += ["_" + " · ".join(a for a in about if a) + "_", ""]
    for m in history.messages(conversation_id):
        when = f" · {stamp(m.created)}" if m.created else ""
        if m.role == "user":
            lines += [f"## Question{when}", "", m.content, ""]
            continue
        split = split_reasoning(m.content)
        status = f" ({LABELS.get(m.status, m.status.value)})" if m.status is not MessageStatus.COMPLETE else ""
        lines += [f"## Answer — {m.model}{status}{when}", ""]
        if split.reasoning:
            lines += ["<details><summary>Reasoning</summary>", "", split.reasoning, "", "</details>", ""]
        sentences = [Sentence.from_dict(d) for d in m.sentences]
        lines += [markdown_answer(split.answer, sentences) if sentences else split.answer, ""]
        notes = support_notices(sentences) + [f"⚠ {n}" for n in m.notices]  # as the Sources header shows them
        lines += [*(f"_{n}_" for n in notes), ""] if notes else []
        if m.sources:
            lines += ["**Sources**", ""]
            lines += [
                f"{s['n']}. {s['title']} ({s['source']}, `{s['id']}`"
                + (f"; {s['reference']})" if s.get("reference") else ")")
                for s in m.sources
            ]
            lines.append("")
    lines += ["---", f"_Exported from medtui. {DISCLAIMER}_", ""]
    return "\n".join(lines)


def export_conversation(history: History, conversation_id: int, folder: Path | None = None) -> Path:
    folder = folder or paths.data_dir() / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    title = history.conversation(conversation_id).title
    slug = re.sub(r"[^\w-]+", "-", title.lower()).strip("-")[:50] or "conversation"
    path = folder / f"{conversation_id}-{slug}.md"
    path.write_text(conversation_markdown(history, conversation_id), encoding="utf-8")
    return path

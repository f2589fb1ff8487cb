"""A conversation as a Markdown document: questions, answers, reasoning and cited sources."""

import re
from pathlib import Path

from medtui.chat.answer_record import DISCLAIMER
from medtui.chat.outcome import LABELS
from medtui.core import paths
from medtui.core.history import History
from medtui.core.reasoning import split_reasoning
from medtui.core.records import MessageStatus


def conversation_markdown(history: History, conversation_id: int) -> str:
    conversation = history.conversation(conversation_id)
    lines = [f"# {conversation.title}", ""]
    for m in history.messages(conversation_id):
        if m.role == "user":
            lines += ["## Question", "", m.content, ""]
            continue
        split = split_reasoning(m.content)
        status = f" ({LABELS.get(m.status, m.status.value)})" if m.status is not MessageStatus.COMPLETE else ""
        lines += [f"## Answer — {m.model}{status}", ""]
        if split.reasoning:
            lines += ["<details><summary>Reasoning</summary>", "", split.reasoning, "", "</details>", ""]
        lines += [split.answer, ""]
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

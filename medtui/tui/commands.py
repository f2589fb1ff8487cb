"""The app's entries in the command palette (ctrl+p): one per key, each a plain SystemCommand, so
listing them costs nothing (the README's key table names each, beside its key). Each description
ends with its key in parentheses: "(F2)", "(ctrl+o)", "(e in History)".

The screen commands open F2–F6, which work over every screen, so they are always listed; the chat
commands act on the chat, so they are listed only over it (`MedtuiApp.get_system_commands`)."""

from collections.abc import Iterable

from textual.app import SystemCommand


def screen_commands(app) -> Iterable[SystemCommand]:
    """`app`: the MedtuiApp; each command calls one of its actions (F2–F6)."""
    yield SystemCommand(
        "Retrieval settings",
        "RAG on/off, index, dense/BM25, top-k, answer only from sources (F2)",
        app.action_retrieval_settings,
    )
    yield SystemCommand("Indexes", "Use, resume, rebuild or add to a retrieval index (F3)", app.action_indexes)
    yield SystemCommand("Benchmarks", "Run MedQA, MedMCQA, PubMedQA, MMLU… and compare (F4)", app.action_evaluate)
    yield SystemCommand(
        "Train", "Train a LoRA adapter (SFT, continual pretraining, MSFT) and watch runs (F5)", app.action_train
    )
    yield SystemCommand(
        "Export model", "Merge a LoRA and export a verified GGUF (f16, q8_0, q4_k_m) (F6)", app.action_export
    )


def chat_commands(app) -> Iterable[SystemCommand]:
    """`app`: the MedtuiApp; each command calls one of its actions on the chat."""
    yield SystemCommand(
        "Switch model", "Pick a base model, LoRA adapter or GGUF file (ctrl+o)", app.action_switch_model
    )
    yield SystemCommand("Toggle RAG", "Ground answers in retrieved sources, or not (ctrl+r)", app.action_toggle_rag)
    yield SystemCommand("New chat", "Start a new conversation (ctrl+n)", app.action_new_chat)
    yield SystemCommand("Toggle reasoning", "Show or hide the models' reasoning (ctrl+t)", app.action_toggle_reasoning)
    yield SystemCommand("Stop", "Stop the answer, or the index build (Esc)", app.action_cancel)
    yield SystemCommand("Toggle side panels", "Show or hide history and sources (ctrl+b)", app.action_toggle_panels)
    yield SystemCommand("Rename conversation", "Rename this conversation (r in History)", app.action_rename)
    yield SystemCommand("Delete conversation", "Delete this conversation (d in History)", app.action_delete)
    yield SystemCommand(
        "Export conversation", "Export this conversation to Markdown (e in History)", app.action_export_chat
    )

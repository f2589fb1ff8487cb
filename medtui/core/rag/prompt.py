"""Grounded prompts that fit the context window.

Passages that passed the relevance gate are numbered [1]..[n] in rank order so the answer's
citations match the sources panel. With no passage the prompt is the question alone and says
nothing about sources (a small model told to use "the sources below" with none there tends to
answer about nothing). How sources and question are laid out is a setting (`prompt_layout`),
measured on the default model by `bench/answers.py --layouts` (docs/results.md).

When the prompt is too long, the lowest-ranked passages go first, then the oldest
conversation turns; only if the question alone does not fit is it an error.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from medtui.core.engines.base import Engine
from medtui.core.errors import MedtuiError
from medtui.core.rag.snippet import Hit

RULES = (
    "Answer the question using the numbered sources, citing them in square brackets like [1]. "
    "If the sources do not answer it, say so."
)


@dataclass
class FittedPrompt:
    prompt: str
    hits: list[Hit]  # the sources actually in the prompt, numbered from 1
    tokens: int
    notices: list[str] = field(default_factory=list)


def _sources(hits: list[Hit]) -> str:
    return "\n\n".join(f"[{i}] {h.snippet.title}\n{h.snippet.text}" for i, h in enumerate(hits, 1))


def _system_rules(system: str, question: str, hits: list[Hit]) -> tuple[str, str]:
    """Rules in the system message, sources then the question in the user message."""
    return f"{system} {RULES}", f"Sources:\n{_sources(hits)}\n\nQuestion: {question}"


def _sources_in_system(system: str, question: str, hits: list[Hit]) -> tuple[str, str]:
    """Rules and sources in the system message; the user message is the question alone."""
    return f"{system} {RULES}\n\nSources:\n{_sources(hits)}", question


def _question_last(system: str, question: str, hits: list[Hit]) -> tuple[str, str]:
    """Sources first, then the question and what to do, last, where a small model reads it best."""
    return system, (
        f"Sources:\n{_sources(hits)}\n\nUsing the sources above, answer in a few sentences and cite them "
        f"like [1]. If they do not answer it, say so.\n\nQuestion: {question}"
    )


# The same names as config.PROMPT_LAYOUTS, which Settings checks (tests/test_grounding.py keeps them equal).
LAYOUTS: dict[str, Callable[[str, str, list[Hit]], tuple[str, str]]] = {
    "system-rules": _system_rules,
    "sources-in-system": _sources_in_system,
    "question-last": _question_last,
}


def messages_for(
    system: str, history: list[dict[str, str]], question: str, hits: list[Hit], layout: str
) -> list[dict[str, str]]:
    system_text, user_text = LAYOUTS[layout](system, question, hits) if hits else (system, question)
    return [{"role": "system", "content": system_text}, *history, {"role": "user", "content": user_text}]


def fit_prompt(
    engine: Engine,
    system: str,
    history: list[dict[str, str]],
    question: str,
    hits: list[Hit],
    max_tokens: int,
    layout: str,  # Settings.prompt_layout: the one default
) -> FittedPrompt:
    budget = engine.n_ctx - max_tokens
    hits, history = list(hits), list(history)
    dropped_hits = dropped_turns = 0
    while True:
        prompt = engine.render_chat(messages_for(system, history, question, hits, layout))
        tokens = engine.count_tokens(prompt)
        if tokens <= budget:
            break
        if hits:
            hits.pop()
            dropped_hits += 1
        elif history:
            history = history[2:]  # a user turn and its answer
            dropped_turns += 1
        else:
            raise MedtuiError(
                f"the question is {tokens} tokens but only {budget} fit (context {engine.n_ctx}, "
                f"max_tokens {max_tokens}): shorten it, lower max_tokens, or raise n_ctx"
            )
    notices = []
    if dropped_hits:
        notices.append(f"{dropped_hits} retrieved source(s) left out to fit the {engine.n_ctx}-token context")
    if dropped_turns:
        notices.append(f"{dropped_turns} earlier exchange(s) left out to fit the {engine.n_ctx}-token context")
    return FittedPrompt(prompt, hits, tokens, notices)

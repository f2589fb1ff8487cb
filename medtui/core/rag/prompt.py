"""Grounded prompts that fit the context window.

Retrieved passages are numbered [1]..[n] in rank order so the answer's citations match the
sources panel. When the prompt is too long, the lowest-ranked passages go first, then the
oldest conversation turns; only if the question alone does not fit is it an error.
"""

from dataclasses import dataclass, field

from medtui.core.engines.base import Engine
from medtui.core.errors import MedtuiError
from medtui.core.rag.snippet import Hit


@dataclass
class FittedPrompt:
    prompt: str
    hits: list[Hit]  # the sources actually in the prompt, numbered from 1
    tokens: int
    notices: list[str] = field(default_factory=list)


def _user_message(question: str, hits: list[Hit]) -> str:
    if not hits:
        return question
    sources = "\n\n".join(f"[{i}] {h.snippet.title}\n{h.snippet.text}" for i, h in enumerate(hits, 1))
    return f"Sources:\n{sources}\n\nQuestion: {question}"


def messages_for(system: str, history: list[dict[str, str]], question: str, hits: list[Hit]) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": _user_message(question, hits)}]


def fit_prompt(
    engine: Engine, system: str, history: list[dict[str, str]], question: str, hits: list[Hit], max_tokens: int
) -> FittedPrompt:
    budget = engine.n_ctx - max_tokens
    hits, history = list(hits), list(history)
    dropped_hits = dropped_turns = 0
    while True:
        prompt = engine.render_chat(messages_for(system, history, question, hits))
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

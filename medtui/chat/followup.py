"""Follow-up questions are retrieved with the conversation in view (docs/grounding.md §5).

"What are its side effects?" retrieved alone finds passages about side effects of anything.
The retrieval query of a follow-up is the recent user questions plus this one: only what the
user typed, never the system prompt, the answers or the sources, so a wrong answer cannot steer
the next search. A question that names its own topic is searched alone.
"""

import re
from collections.abc import Callable

from medtui.core.rag.bm25 import content_words

# Words that point back at something said before.
POINTERS = frozenset(
    [
        "it",
        "its",
        "it's",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "this",
        "that",
        "these",
        "those",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "such",
        "same",
        "former",
        "latter",
        "above",
    ]
)
SHORT = 1  # a question of one content word or none ("And the dose?") leans on what came before
REWRITE_PROMPT = (
    "Rewrite the last question so it can be understood without the conversation, naming what it "
    "refers to. Reply with the rewritten question only."
)


def is_followup(question: str) -> bool:
    words = re.findall(r"[a-z']+", question.lower())
    return any(w in POINTERS for w in words) or len(content_words(question)) <= SHORT


def standalone_query(question: str, earlier: list[str], turns: int) -> str:
    """The retrieval query: `question`, after up to `turns` earlier user questions if it is a follow-up."""
    if turns <= 0 or not earlier or not is_followup(question):
        return question
    return " ".join([*earlier[-turns:], question])


def rewrite_prompt(question: str, earlier: list[str], turns: int) -> list[dict[str, str]]:
    """Messages asking the model for a standalone version of a follow-up (setting `query_rewrite`)."""
    asked = "\n".join(f"- {q}" for q in earlier[-turns:])
    return [
        {"role": "system", "content": REWRITE_PROMPT},
        {"role": "user", "content": f"Earlier questions:\n{asked}\n\nLast question: {question}"},
    ]


def rewritten_query(
    question: str, earlier: list[str], turns: int, generate: Callable[[list[dict[str, str]]], str]
) -> str:
    """The model's standalone rewrite of a follow-up; the plain rule's query when the rewrite is
    unusable (empty, or long enough to be an answer rather than a question)."""
    plain = standalone_query(question, earlier, turns)
    if plain == question:
        return question
    rewrite = " ".join(generate(rewrite_prompt(question, earlier, turns)).split())
    return rewrite if 0 < len(rewrite) <= 3 * len(plain) else plain

"""What every engine offers: exact token counts, sandboxed chat templates, streamed text."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from medtui.core.registry import ModelSpec


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.2
    seed: int = 0


class CancelToken(Protocol):
    """The caller's stop request, as an engine sees it: read-only.

    A `threading.Event` is one. Engines never set it: each stops its own generation with a
    private event, so a finished answer is never mistaken for a stopped one by the caller.
    """

    def is_set(self) -> bool: ...


class Engine(Protocol):
    spec: ModelSpec
    n_ctx: int

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The prompt text the model's own chat template makes of these messages."""
        ...

    def count_tokens(self, prompt: str) -> int:
        """Exactly how many tokens `stream` will feed the model for this prompt."""
        ...

    def stream(self, prompt: str, params: GenerationParams, cancel: CancelToken) -> Iterator[str]:
        """Yield text pieces as they are decoded; stop early once `cancel` is set (only read, never set)."""
        ...

    def tokenize(self, prompt: str) -> list[int]:
        """The token ids `stream` would feed for this prompt."""
        ...

    def next_token_logprobs(self, prompts: list[str], token_ids: list[int]) -> list[list[float]]:
        """For each prompt, log P(token | prompt) of each candidate token: benchmark letter scoring."""
        ...

    def continuation_logprob(self, prompt: str, continuation: str) -> float:
        """Sum of log P over the continuation's tokens, one sequence at a time (the slow, general way)."""
        ...

    def close(self) -> None: ...

"""What every engine offers: exact token counts, sandboxed chat templates, streamed text."""

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

from medtui.core.records import Word
from medtui.core.registry import ModelSpec


class Finish(Word):
    """Why a stream ended: what `Engine.stream` returns once its text is out."""

    STOP = "stop"  # the model ended its answer (end-of-sequence or a stop token)
    LENGTH = "length"  # max_tokens ran out first: the answer is cut
    CANCELLED = "cancelled"  # the caller's token was set

    @classmethod
    def noun(cls) -> str:
        return "finish reason"


@dataclass(frozen=True)
class GenerationParams:
    """How to decode. Every sampling knob defaults to neutral (off), so a caller that sets only
    the first three gets plain temperature sampling (greedy at 0); `engines.sampling` adds the
    per-model defaults that keep small models from looping."""

    max_tokens: int = 512
    temperature: float = 0.2
    seed: int = 0
    repeat_penalty: float = 1.0  # divides the logits of tokens already seen (1: off); greedy too
    presence_penalty: float = 0.0  # subtracted once from any token already seen (llama.cpp only)
    frequency_penalty: float = 0.0  # subtracted per earlier occurrence (llama.cpp only)
    min_p: float = 0.0  # drop tokens below min_p x the top token's probability (0: off)
    top_p: float = 1.0  # nucleus sampling (1: off)
    top_k: int = 0  # keep the k likeliest tokens (0: no cut)


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

    def stream(self, prompt: str, params: GenerationParams, cancel: CancelToken) -> Generator[str, None, Finish]:
        """Yield text pieces as they are decoded and return why the answer ended (a `Finish`).

        STOP: the model ended it; LENGTH: `params.max_tokens` ran out; CANCELLED: `cancel` was
        set (only read, never set), which stops the stream early. A caller that only iterates
        can ignore the reason; one that wants it reads `StopIteration.value`, or writes
        `finish = yield from engine.stream(...)` in a generator of its own. A reader that
        closes the stream early gets no reason (the generator just ends).
        """
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

"""Turn a question / reasoning / answer row into the tokens a model sees at chat time.

The research notebooks used their own prompt format and put the loss on the prompt too. Here
the prompt is the model's own chat template (rendered in medtui's sandbox, exactly as the
engines render it when chatting), the reasoning goes inside `<think>…</think>` before the
answer, and only the response tokens carry a loss: prompt tokens get no label.

The template is asked for the text that opens an assistant turn (the generation prompt) and
the text that closes one (rendered around a sentinel), so a template that opens the turn with
`<think>` itself (DeepSeek-R1) or strips reasoning from past turns still trains on exactly
what the model would produce.
"""

from dataclasses import dataclass

from medtui.core.engines.chat_template import render_chat
from medtui.core.reasoning import CLOSE, OPEN
from trainers.data import SftRow

_SENTINEL = "\ue000medtui-response\ue000"
IGNORE = -100  # the label of a token without loss


@dataclass(frozen=True)
class Formatted:
    prompt: str  # everything up to and including the assistant turn's opening
    completion: str  # the response the model learns: reasoning, answer, end of turn


def response_body(row: SftRow) -> str:
    if not row.reasoning:
        return row.answer
    return f"{OPEN}\n{row.reasoning}\n{CLOSE}\n\n{row.answer}"


def format_row(tokenizer, row: SftRow, system_prompt: str = "") -> Formatted:
    """Prompt and completion text for one row, with the tokenizer's own chat template."""
    template = tokenizer.chat_template
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
        {"role": "user", "content": row.question}
    ]
    prompt = render_chat(template, messages, bos, eos, add_generation_prompt=True)
    full = render_chat(
        template, [*messages, {"role": "assistant", "content": _SENTINEL}], bos, eos, add_generation_prompt=False
    )
    body = response_body(row)
    opened = prompt.endswith(OPEN + "\n") or prompt.endswith(OPEN)
    if opened and body.startswith(OPEN):  # the template already opened the thinking block
        body = body[len(OPEN) :].lstrip("\n") if prompt.endswith("\n") else body[len(OPEN) :]
    if _SENTINEL in full:
        before, after = full.split(_SENTINEL, 1)
        between = before[len(prompt) :] if before.startswith(prompt) else ""
        return Formatted(prompt, between + body + (after or eos))
    return Formatted(prompt, body + eos)


def tokenize_formatted(tokenizer, formatted: Formatted) -> dict[str, list[int]]:
    """input_ids and completion_mask (1 = this token is learned). The template wrote the special
    tokens, so none are added; the prompt's tokens are kept as they tokenize alone, which is
    what the model sees at chat time before it starts answering."""
    prompt_ids = tokenizer(formatted.prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(formatted.prompt + formatted.completion, add_special_tokens=False)["input_ids"]
    if full_ids[: len(prompt_ids)] == prompt_ids:
        completion_ids = full_ids[len(prompt_ids) :]
    else:  # the two texts merge into one token at the boundary: tokenize them apart
        completion_ids = tokenizer(formatted.completion, add_special_tokens=False)["input_ids"]
    return {
        "input_ids": prompt_ids + completion_ids,
        "completion_mask": [0] * len(prompt_ids) + [1] * len(completion_ids),
    }

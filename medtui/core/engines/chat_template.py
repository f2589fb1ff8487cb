"""Render chat templates that come from model files inside a Jinja sandbox.

A template is code shipped by whoever made the model file; the immutable sandbox keeps it
from touching Python objects beyond the messages it is given (as transformers and
llama-cpp-python do).
"""

from datetime import datetime

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from medtui.core.errors import MedtuiError

# Used when a model file carries no template of its own.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _raise(message: str) -> None:
    raise MedtuiError(f"chat template refused the conversation: {message}")


def _env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def render_chat(
    template: str | None,
    messages: list[dict[str, str]],
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    try:
        compiled = _env().from_string(template or CHATML)
        return compiled.render(
            messages=messages, bos_token=bos_token, eos_token=eos_token, add_generation_prompt=add_generation_prompt
        )
    except jinja2.TemplateError as e:
        raise MedtuiError(f"the model's chat template failed to render ({e}): choose another model") from None

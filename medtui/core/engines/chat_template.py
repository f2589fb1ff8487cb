"""Render chat templates that come from model files inside a Jinja sandbox, bounded in time and size.

A template is code shipped by whoever made the model file; the immutable sandbox keeps it
from touching Python objects beyond the messages it is given (as transformers and
llama-cpp-python do). The sandbox does not stop a template that loops for hours or builds
gigabytes, so each render runs in its own thread with a deadline, and the output and every
value an operator, filter or call builds are capped. Every failure is one MedtuiError that
names the model.
"""

import ctypes
import functools
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment

from medtui.core.errors import MedtuiError

# Used when a model file carries no template of its own.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TIME_LIMIT_S = 5.0  # a real template renders in milliseconds
MAX_CHARS = 4_000_000  # the prompt, and any string or list built on the way
MAX_INT_BITS = 1 << 16  # huge ints are computed in one C call that no deadline can interrupt


class _TooLarge(Exception):
    pass


class _Stop(BaseException):
    """Sent into a render thread that ran out of time; BaseException, so no template code catches it."""


def _capped(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict) and len(value) > MAX_CHARS:
        raise _TooLarge
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _TooLarge
    return value


def _refuse_huge(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation before it builds a huge value: Python builds it in one C call that
    holds the GIL, where neither the deadline nor a check afterwards could stop it."""
    if isinstance(left, int) and isinstance(right, int):
        a, b = left.bit_length(), right.bit_length()
        bits = a * max(right, 0) if operator == "**" else a + b
        if bits > MAX_INT_BITS:
            raise _TooLarge
    elif operator == "*":
        seq, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(count, int) and isinstance(seq, str | list | tuple) and len(seq) * count > MAX_CHARS:
            raise _TooLarge
    elif (
        isinstance(left, str | list | tuple)
        and isinstance(right, str | list | tuple)
        and len(left) + len(right) > MAX_CHARS
    ):
        raise _TooLarge


def _refuse_huge_args(args: tuple, kwargs: dict) -> None:
    """A width or count past the cap (`center(10**9)`, `lipsum(10**9)`) would build a huge value in C."""
    if any(isinstance(a, int) and a > MAX_CHARS for a in (*args, *kwargs.values())):
        raise _TooLarge


def _bounded(function: Callable) -> Callable:
    @functools.wraps(function)  # keeps jinja's pass_context/pass_environment marks
    def call(*args: Any, **kwargs: Any) -> Any:
        _refuse_huge_args(args, kwargs)
        return _capped(function(*args, **kwargs))

    return call


class _Generator(CodeGenerator):
    """Caps `~` (string concatenation), the one operator the sandbox cannot intercept."""

    def visit_Concat(self, node, frame) -> None:
        self.write("environment.capped(")
        super().visit_Concat(node, frame)
        self.write(")")


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _Generator
    intercepted_binops = frozenset({"+", "*", "**"})

    def __init__(self) -> None:
        super().__init__(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
        self.filters = {name: _bounded(f) for name, f in self.filters.items()}
        self.capped = _capped

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        _refuse_huge(operator, left, right)
        return _capped(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj, *args: Any, **kwargs: Any) -> Any:
        _refuse_huge_args(args, kwargs)
        return _capped(super().call(__context, __obj, *args, **kwargs))


def _env(who: str) -> _BoundedEnvironment:
    def raise_exception(message: str) -> None:
        raise MedtuiError(f"the chat template of {who} refused the conversation: {message}")

    env = _BoundedEnvironment()
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


class _RenderThread(threading.Thread):
    """Runs one render; `stop` ends it with an asynchronous `_Stop` when it overstays, since
    a thread cannot be killed and a runaway loop would otherwise spin until the process ends."""

    def __init__(self, render: Callable[[], str]) -> None:
        super().__init__(daemon=True, name="chat-template")
        self.render = render
        self.outcome: str | Exception = ""
        self.lock = threading.Lock()
        self.done = False
        self.stopped = False

    def run(self) -> None:
        try:
            try:
                self.outcome = self.render()
            except Exception as e:
                self.outcome = e
            with self.lock:
                self.done = True
                stopped = self.stopped
            while stopped:  # a stop was sent before we finished: take it here, not in threading's code
                time.sleep(0.01)
        except _Stop:
            pass

    def stop(self) -> bool:
        """True if it was still rendering (and is now told to stop)."""
        with self.lock:
            if self.done:
                return False
            self.stopped = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.ident), ctypes.py_object(_Stop))
            return True


@functools.lru_cache(maxsize=16)
def _compiled(template: str, who: str) -> jinja2.Template:
    """Compiled once: evals and training render thousands of prompts with the same template."""
    return _env(who).from_string(template)


def _render(template: str, who: str, context: dict[str, Any]) -> str:
    pieces, size = [], 0
    for piece in _compiled(template, who).generate(**context):
        size += len(piece)
        if size > MAX_CHARS:
            raise _TooLarge
        pieces.append(piece)
    return "".join(pieces)


def _failure(who: str, error: Exception) -> MedtuiError:
    if isinstance(error, MedtuiError):
        return error
    if isinstance(error, _TooLarge):
        return MedtuiError(
            f"the chat template of {who} builds something too large (over {MAX_CHARS:,} characters): "
            "choose another model"
        )
    if isinstance(error, jinja2.TemplateSyntaxError):
        what = f"syntax error on line {error.lineno}: {error.message}"
    else:
        what = f"{type(error).__name__}: {error}"
    return MedtuiError(f"the chat template of {who} failed to render ({what[:200]}): choose another model")


def render_chat(
    template: str | None,
    messages: list[dict[str, str]],
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    model: str = "",
) -> str:
    """The prompt for `messages`; `model` names the model in the error when the template fails."""
    who = model or "this model"
    context = dict(
        messages=messages, bos_token=bos_token, eos_token=eos_token, add_generation_prompt=add_generation_prompt
    )
    worker = _RenderThread(lambda: _render(template or CHATML, who, context))
    worker.start()
    worker.join(TIME_LIMIT_S)
    if worker.stop():
        raise MedtuiError(
            f"the chat template of {who} took over {TIME_LIMIT_S:g} s to render (a runaway loop?): choose another model"
        )
    if isinstance(worker.outcome, Exception):
        raise _failure(who, worker.outcome) from None
    return worker.outcome

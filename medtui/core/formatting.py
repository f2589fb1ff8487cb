"""How times, conversation titles and labelled report lines read, shared by the CLI and the TUI so
both say the same."""

import datetime
import os
import re
import shutil
import sys
import textwrap

TITLE_CHARS = 60


def conversation_title(question: str) -> str:
    """A conversation's title from its first question: one line, at most TITLE_CHARS, cut at a word with "…"."""
    text = " ".join(question.split())
    if len(text) <= TITLE_CHARS:
        return text
    cut = text[: TITLE_CHARS - 1]
    head = cut.rsplit(" ", 1)[0] if " " in cut[TITLE_CHARS // 2 :] else cut  # a word, unless that loses half
    return head.rstrip(" ,;:.") + "…"


def format_duration(seconds: float | None) -> str:
    """'1h05m' from an hour up, else '4m07s'; '?' when unknown (an ETA before the first step)."""
    if seconds is None:
        return "?"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m" if hours else f"{m}m{s:02d}s"


def format_timestamp(epoch: float) -> str:
    """A stored time.time() in local time to the second, e.g. 2025-03-01T14:05:09."""
    return datetime.datetime.fromtimestamp(epoch).isoformat(timespec="seconds")


def format_size(n: float | None) -> str:
    """'1.12 GB', '986 MB': decimal units and 3 digits, as the Hugging Face Hub shows file sizes; '?' when unknown."""
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"


class _Wrapper(textwrap.TextWrapper):
    """Breaks at spaces and after a '/', so a long path wraps at a folder, not inside a name; never
    between a number and its unit ("189 MB") nor around an '=' ("F16C = 1"), which read as one."""

    wordsep_simple_re = re.compile(
        r"((?<![=\d])\s+(?!=)"  # a space, not beside an '=' and not after a digit
        r"|(?<=\d)\s+(?!(?:[KMGT]i?)?B\b|=)"  # after a digit: unless a unit or an '=' follows
        r"|(?<=/)(?=[^/\s]))"
    )


MIN_WRAP = 20  # narrower than this beside its label, a value runs past the edge rather than into a column of words


def report_width() -> int | None:
    """The width a report (`doctor`, `models info`) wraps to: COLUMNS when set, else the terminal's;
    None into a pipe or a file, so each value stays one line for grep."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def hanging(label: str, value: str, width: int | None) -> str:
    """`label` (padding included) then `value`, wrapped to `width` with every further line under the
    value's first column: a terminal would wrap a long value back to column 0, through the labels."""
    if width is None:
        return label + value
    indent = " " * len(label)
    wrapper = _Wrapper(max(width - len(indent), MIN_WRAP), break_on_hyphens=False)
    lines = [line for paragraph in value.split("\n") for line in wrapper.wrap(paragraph) or [""]]
    return label + ("\n" + indent).join(lines)


def labelled(rows: list[tuple[str, str]], width: int | None, indent: str = "") -> list[str]:
    """A report section: every value starts in one column, two past its longest label, so a long
    label does not push its own value (and that value's wrapped lines) out of line."""
    column = max((len(label) for label, _ in rows), default=0) + 2
    return [hanging(f"{indent}{label:<{column}}", value, width) for label, value in rows]

"""Rate and time left for long work, for progress shown as text (the TUI status line)."""

import time

from medtui.core.formatting import format_duration


class RateMeter:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.first: int | None = None  # resumed builds start above 0: measure from there

    def describe(self, done: int, total: int | None, unit: str = "snippets") -> str:
        if self.first is None:
            self.first, self.start = done, time.monotonic()
        elapsed = time.monotonic() - self.start
        rate = (done - self.first) / elapsed if elapsed > 0.5 and done > self.first else 0.0
        text = f"{done}/{total or '?'} {unit}"
        if rate:
            text += f" · {rate:.0f}/s"
            if total and total > done:
                text += f" · ETA {format_duration((total - done) / rate)}"
        return text

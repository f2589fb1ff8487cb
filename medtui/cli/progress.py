"""Progress for long CLI work: a rich progress bar on stderr (index builds), with rate and ETA,
and a streaming answer shown live on a terminal."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from medtui.core.rag.index import Progress as ProgressFn


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressFn]:
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(description, total=None, rate="")

    def update(done: int, total: int | None) -> None:
        if not bar.live.is_started:
            bar.start()
        speed = bar.tasks[0].speed
        bar.update(task, completed=done, total=total, rate=f"{speed:.0f} snippets/s" if speed else "")

    try:
        yield update
    finally:
        if bar.live.is_started:  # stopping a bar never shown writes an empty line before an error
            bar.stop()


@contextmanager
def bytes_bar() -> Iterator[tuple[Callable[[str], None], Callable[[int, int | None], None]]]:
    """(phase, update) for a download or a checksum: bytes done, speed and ETA on stderr;
    `phase(text)` names the step and restarts the bar."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("", total=None)

    def phase(text: str) -> None:
        bar.reset(task, description=text, total=None)

    def update(done: int, total: int | None) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield phase, update
    finally:
        if bar.live.is_started:
            bar.stop()


@contextmanager
def live_text(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """`show(text)` redraws `text` on stdout while the block runs and erases it at the end, so
    the final version (an answer with its checked citations) replaces it; a no-op unless stdout
    is a terminal (a script reading stdout gets only the final version)."""
    if not (enabled and sys.stdout.isatty()):
        yield lambda text: None
        return
    with Live(console=Console(), transient=True, refresh_per_second=10, vertical_overflow="ellipsis") as live:
        yield lambda text: live.update(Text(text))

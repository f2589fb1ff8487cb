"""A rich progress bar on stderr for long CLI work (index builds), with rate and ETA."""

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

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
        bar.stop()

"""Write-then-rename: a file or folder appears under its final name only once it is complete.

Everything is written to `<target>.partial` first. A crash or an error leaves the previous
target (or none) and never a half-written one; a partial left by a killed process is cleared
by the next attempt.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(target: Path) -> Path:
    """Where `target` is written before it is renamed into place."""
    return target.with_name(target.name + ".partial")


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty `<target>.partial/` to fill; on success it replaces `target`, on an
    error (or Ctrl-C) it is removed and `target` is left as it was."""
    partial = partial_path(target)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield `<target>.partial` to write; on success it replaces `target` in one atomic
    `os.replace`, on an error it is deleted and `target` is left as it was."""
    partial = partial_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial.unlink(missing_ok=True)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)

"""Where medtui keeps its files: XDG locations, overridable by environment variables.

Conversations and settings are private: medtui's config and data folders are 0700 and the
files it writes there 0600 (`private_dir`, `private_file`); `secure_home` tightens what an
earlier version left readable by other users.
"""

import contextlib
import os
import stat
from pathlib import Path

from medtui.core.errors import MedtuiError

_SHARED = 0o077  # the group and other permission bits, which medtui's own files never keep


def _xdg(env: str, fallback: str) -> Path:
    return Path(os.environ.get(env) or Path.home() / fallback)


def config_dir() -> Path:
    """~/.config/medtui, or $MEDTUI_CONFIG_DIR."""
    return Path(os.environ.get("MEDTUI_CONFIG_DIR") or _xdg("XDG_CONFIG_HOME", ".config") / "medtui")


def data_dir() -> Path:
    """~/.local/share/medtui, or $MEDTUI_DATA_DIR: indexes, history, runs."""
    return Path(os.environ.get("MEDTUI_DATA_DIR") or _xdg("XDG_DATA_HOME", ".local/share") / "medtui")


def config_file() -> Path:
    return config_dir() / "config.toml"


def models_file() -> Path:
    return config_dir() / "models.toml"


def indexes_dir() -> Path:
    """Retrieval indexes; $MEDTUI_INDEXES_DIR puts big ones on another disk."""
    return Path(os.environ.get("MEDTUI_INDEXES_DIR") or data_dir() / "indexes")


def history_db() -> Path:
    return data_dir() / "history.sqlite3"


def private_dir(path: Path) -> Path:
    """Create `path` (with any missing parents) as a folder only its owner can open, or make an
    existing one so: every writer calls this for the folder it writes into."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _tighten(path)
    except OSError as e:
        raise MedtuiError(f"{path}: cannot make it a private folder ({e.strerror}): check its owner") from None
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty, or keep it, as a file only its owner can read (0600). Called before
    the first byte is written, so the data is never readable by others, not even for a moment."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as e:
        raise MedtuiError(f"{path}: cannot create it ({e.strerror}): check the folder's owner") from None
    try:
        _tighten(path)
    except OSError as e:
        raise MedtuiError(f"{path}: cannot make it private ({e.strerror}): check its owner") from None
    return path


def _tighten(path: Path) -> None:
    """Take the group and other bits off (symlinks are left alone: chmod would follow them)."""
    mode = path.lstat().st_mode
    if not stat.S_ISLNK(mode) and mode & _SHARED:
        path.chmod(stat.S_IMODE(mode) & ~_SHARED)


def secure_home() -> None:
    """On start: create the config and data folders private, and take the group and other bits
    off everything already in them (an earlier version left files 0644 in 0755 folders). A
    folder $MEDTUI_INDEXES_DIR points at is the user's to share and is left alone; so is what
    medtui cannot change (a file another user owns, one removed meanwhile)."""
    shared = Path(os.environ["MEDTUI_INDEXES_DIR"]).resolve() if os.environ.get("MEDTUI_INDEXES_DIR") else None
    for root in (config_dir(), data_dir()):
        if root.resolve() == shared:
            continue
        private_dir(root)
        for folder, dirs, files in os.walk(root):  # symlinked folders are not entered
            dirs[:] = [d for d in dirs if (Path(folder) / d).resolve() != shared]
            for name in [*dirs, *files]:
                with contextlib.suppress(OSError):
                    _tighten(Path(folder) / name)

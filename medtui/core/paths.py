"""Where medtui keeps its files: XDG locations, overridable by environment variables."""

import os
from pathlib import Path


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

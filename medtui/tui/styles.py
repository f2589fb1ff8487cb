"""Textual CSS lives in .tcss files beside the code it styles, not in Python strings."""

from pathlib import Path


def stylesheet(module_file: str) -> str:
    """The CSS of the .tcss file beside `module_file` (pass `__file__`).

    Widgets have no CSS_PATH, so they read it into DEFAULT_CSS: it stays default CSS, scoped to
    the widget and overridable by the app, as Textual intends for a widget's own styles.
    """
    return Path(module_file).with_suffix(".tcss").read_text(encoding="utf-8")

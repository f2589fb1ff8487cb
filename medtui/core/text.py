"""Reading user-supplied text strictly as UTF-8, so bad bytes are reported, not mangled."""

from pathlib import Path

from medtui.core.errors import MedtuiError


def read_utf8(path: Path) -> str:
    """Read a file as UTF-8 or raise a one-line error naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MedtuiError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise MedtuiError(f"{path}: not valid UTF-8 (byte {e.start}): re-save the file as UTF-8") from None


def check_utf8(text: str, what: str = "input") -> str:
    """Reject strings carrying undecodable bytes (Python maps them to lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MedtuiError(f"{what} is not valid UTF-8 text: re-type it or re-save it as UTF-8") from None
    return text

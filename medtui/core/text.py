"""User-supplied text: read strictly as UTF-8, printed without terminal escapes, names checked."""

import json
import re
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


# Terminal escape sequences: CSI (ESC [ … final byte); OSC, DCS, SOS, PM and APC up to their
# terminator (BEL or ESC \); any other ESC plus its intermediate and final bytes.
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but \t and \n, DEL, C1
_NAME = re.compile(r"[\w.-]+")


def printable(text: str) -> str:
    """`text` with terminal escape sequences and control characters removed (\\n and \\t kept):
    data printed to a terminal (a corpus title, a model's answer) must not retitle, clear or
    rewrite it. A sequence split across calls still loses its ESC, which is what makes it act."""
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


def printable_json(value: object) -> str:
    """`value` as JSON for a terminal: json.dumps escapes C0 controls, this escapes DEL and C1 too
    (losslessly: they only occur inside strings)."""
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def check_name(kind: str, name: str) -> str:
    """The one check for a name that becomes a file or folder name (a model, an export, an
    index): letters, digits, '.', '_' and '-', and not only dots, so it stays inside its folder."""
    if not _NAME.fullmatch(name) or not name.strip("."):
        raise MedtuiError(f"{kind} name {name!r}: use letters, digits, '.', '_' or '-', and not only dots")
    return name

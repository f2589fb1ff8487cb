"""Whether the Hugging Face Hub can be reached, found out once per process in a few seconds.

Without a network the Hub clients retry every request for about a minute (and a DNS lookup
alone can hang for half of that). So every Hub path calls `check()` first: when the Hub does
not answer, the process switches to offline mode, the libraries read only their local cache
(a model downloaded earlier still loads) and fail at once otherwise, and the user gets one line.
"""

import os
import socket
import sys
import threading
from functools import lru_cache
from urllib.parse import urlsplit

from medtui.core.errors import MedtuiError
from medtui.core.registry import is_hub_id

PROBE_S = 3.0
DEFAULT_ENDPOINT = "https://huggingface.co"
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_unreachable: str | None = None  # why this process switched itself to offline mode


def offline() -> bool:
    """Offline mode was chosen (--offline, or one of the Hub libraries' own variables)."""
    return any(os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"} for v in _OFFLINE_VARIABLES)


def go_offline() -> None:
    """Offline mode for the whole process, including Hub libraries already imported: they read
    the variables only once, at import."""
    for variable in _OFFLINE_VARIABLES:
        os.environ[variable] = "1"
    if constants := sys.modules.get("huggingface_hub.constants"):
        constants.HF_HUB_OFFLINE = True
    if config := sys.modules.get("datasets.config"):
        config.HF_HUB_OFFLINE = config.HF_DATASETS_OFFLINE = True


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


@lru_cache(maxsize=4)
def _probe(host: str, port: int) -> str | None:
    """None when a TCP connection opens within PROBE_S, else why not. It runs in a thread
    because the DNS lookup ignores socket timeouts."""
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=PROBE_S).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(e.strerror or str(e) or type(e).__name__)

    thread = threading.Thread(target=connect, daemon=True, name="hub-probe")
    thread.start()
    thread.join(PROBE_S)
    return outcome[0] if outcome else f"no answer in {PROBE_S:g} s"


def check() -> str | None:
    """Call before anything that may reach the Hub. None when it can be used, or when offline
    mode was chosen (no probe then: the libraries use their cache); otherwise why it cannot be
    reached, after switching the process to offline mode so no library retries."""
    global _unreachable
    if _unreachable or offline():
        return _unreachable
    url = urlsplit(endpoint())
    _unreachable = _probe(url.hostname or "", url.port or (80 if url.scheme == "http" else 443))
    if _unreachable:
        go_offline()
    return _unreachable


def check_source(source: str) -> str | None:
    """`check()` for a model or dataset argument: only a Hub id needs the Hub, a folder or file does not."""
    return check() if is_hub_id(source) else None


def offline_reason() -> str:
    """Why this process is offline: the probe's reason when `check()` switched it, else that offline
    mode was chosen (both set the same variables, so `offline()` alone cannot tell them apart)."""
    return _unreachable or "offline mode is on"


def unreachable_error(reason: str, what: str, fix: str) -> MedtuiError:
    """The one line for `what` (a model or dataset) when `check()` found the Hub unreachable. The
    hint names HF_HUB_OFFLINE, which every command reads (not every command takes --offline)."""
    if offline() and not _unreachable:  # the user chose offline mode: nothing was reached for, nothing to skip
        return MedtuiError(f"cannot load {what}: {reason} and it is not in the local cache: {fix}")
    return MedtuiError(
        f"cannot load {what} from the Hugging Face Hub: cannot reach {endpoint()} ({reason}) and it is not in "
        f"the local cache: {fix} (HF_HUB_OFFLINE=1 skips this 3 s network check next time)"
    )

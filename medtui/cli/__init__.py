"""The `medtui` command: a thin typer layer over the services."""

import logging
import sys

from medtui.cli.app import app
from medtui.core.errors import MedtuiError
from medtui.core.paths import secure_home
from medtui.core.text import printable


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 1, never a traceback; a
    message may quote user data (a name, a title), so it is printed without terminal escapes."""
    # bitsandbytes' CPU backend (imported by peft, which sentence-transformers and transformers'
    # trainer import) warns on every start that an optional Hub-fetched kernel is missing.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    try:
        secure_home()
        app(prog_name="medtui")
    except MedtuiError as e:
        print(f"medtui: error: {printable(str(e))}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("medtui: interrupted", file=sys.stderr)
        sys.exit(130)

"""The `medtui` command: a thin typer layer over the services."""

import logging
import sys

from medtui.cli.app import app
from medtui.core.errors import MedtuiError


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 1, never a traceback."""
    # bitsandbytes' CPU backend (imported by peft, which sentence-transformers and transformers'
    # trainer import) warns on every start that an optional Hub-fetched kernel is missing.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    try:
        app(prog_name="medtui")
    except MedtuiError as e:
        print(f"medtui: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("medtui: interrupted", file=sys.stderr)
        sys.exit(130)

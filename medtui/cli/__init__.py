"""The `medtui` command: a thin typer layer over the services."""

import sys

from medtui.cli.app import app
from medtui.errors import MedtuiError


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 1, never a traceback."""
    try:
        app(prog_name="medtui")
    except MedtuiError as e:
        print(f"medtui: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("medtui: interrupted", file=sys.stderr)
        sys.exit(130)

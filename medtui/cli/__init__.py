"""The `medtui` command: a thin typer layer over the services."""

import sys

import click
import typer

from medtui.cli.app import app
from medtui.errors import MedtuiError


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 1, never a traceback."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="medtui", standalone_mode=False)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.Abort, KeyboardInterrupt):
        print("medtui: interrupted", file=sys.stderr)
        sys.exit(130)
    except MedtuiError as e:
        print(f"medtui: error: {e}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

"""One exception type for every problem the user can fix.

Its message is a single line that says what went wrong and what to do; the CLI prints it
and exits 1, the TUI shows it as a notification. Anything else is a bug and keeps its
traceback.
"""


class MedtuiError(Exception):
    """A user-fixable problem with a one-line, actionable message."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

"""`medtui chat`: the Textual app."""

from medtui.cli.options import with_settings
from medtui.core.config import Settings


def open_chat(settings: Settings) -> None:
    from medtui.tui.app import MedtuiApp

    MedtuiApp(settings).run()


chat = with_settings(open_chat)

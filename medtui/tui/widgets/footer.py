"""The key bar, in up to three lines, rebuilt only when its keys change and only while its screen is on top.

One line held the chat's twelve keys only from 160 columns: at 80 and 100 the F-keys were cut, and
F5's quit key came after its own. So the footer holds up to three lines: on top the F-keys that
open the screens (not the one already open: that key does nothing there); then, only while the
focused widget has keys of its own (History's r, d, e, c), those keys; at the bottom quit, always
first, then the screen's and the app's keys, with the palette key at the bottom right. Below 120
columns app.tcss drops the keys' padding (Textual's compact footer) so each line fits 80 columns;
what still would not fit is cut from the end of its line, never quit or the palette.

Textual's Footer shows one key per action (it groups by action), so no two shown bindings may
share an action name: History's e is `export_conversation`, F6 is `export`.

Textual's Footer rebuilds all its key widgets whenever its screen's bindings are updated, which
includes the chat losing focus to the command palette and getting it back: two rebuilds of the
chat's ~15 keys, then a layout of the chat behind the palette, on the same event loop as the
palette filling its list. That was most of ctrl+p's opening time (bench/palette.py measures it).
"""

import re

from textual.app import App, ComposeResult
from textual.containers import HorizontalGroup
from textual.screen import Screen
from textual.widgets import Footer

from medtui.tui.styles import stylesheet

SCREEN_KEY = re.compile(r"f\d+")  # F2–F6 open the other screens: the upper line


class KeysFooter(Footer):
    DEFAULT_CSS = stylesheet(__file__)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None  # the keys of the last rebuild: (key, description, enabled)

    def compose(self) -> ComposeResult:
        keys = list(super().compose())  # Textual's FooterKeys (no binding here has a group), the palette's last
        palette = [key for key in keys if key.has_class("-command-palette")]
        widget = {  # the keys of the focused widget: bound neither on the app nor on the screen
            key for key, (node, *_) in self.screen.active_bindings.items() if not isinstance(node, (App, Screen))
        }
        here = sorted((key for key in keys if key not in palette), key=lambda key: key.action != "quit")
        screens = [key for key in here if SCREEN_KEY.fullmatch(key.key)]
        focused = [key for key in here if key.key in widget and key not in screens]
        if screens:
            yield HorizontalGroup(*screens, classes="keys")
        if focused:
            yield HorizontalGroup(*focused, classes="keys -focused")
        rest = [key for key in here if key not in screens and key not in focused]
        yield HorizontalGroup(*rest, *palette, classes="keys")  # the palette docks right on this line

    def bindings_changed(self, screen: Screen) -> None:
        if screen is not self.app.screen:
            return  # under a palette or a dialog: when it closes, the update on resume catches up
        shown = tuple(
            (binding.key, binding.description, enabled, tooltip)
            for _, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show
        )
        if shown == self._shown:
            return
        if screen.app.app_focus:  # else Textual's own leaves it for later too
            self._shown = shown
        super().bindings_changed(screen)

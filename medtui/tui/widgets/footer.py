"""The key bar, rebuilt only when the keys it shows change and only while its screen is on top.

Textual's Footer rebuilds all its key widgets whenever its screen's bindings are updated, which
includes the chat losing focus to the command palette and getting it back: two rebuilds of the
chat's ~15 keys, then a layout of the chat behind the palette, on the same event loop as the
palette filling its list. That was most of ctrl+p's opening time (bench/palette.py measures it).
"""

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None  # the keys of the last rebuild: (key, description, enabled)

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

"""The standing not-medical-advice notice: a line of its own under the header, shared with
nothing transient (status, progress) and out of the toasts' way, wrapping when narrow so it is
always read in full."""

from textual.widgets import Static

from medtui.chat.answer_record import DISCLAIMER
from medtui.tui.styles import stylesheet


class Disclaimer(Static):
    DEFAULT_CSS = stylesheet(__file__)

    def __init__(self) -> None:
        super().__init__(DISCLAIMER, id="disclaimer", markup=False)

"""On/off state in text as well as colour: Textual draws a switch's state and a selection list's
tick by colour alone, which a monochrome terminal or a colour-blind user cannot read. Every
switch (F2, F4, F5) gets a "[x] on" / "[ ] off" beside it and every pick list a "[x]" / "[ ]"."""

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import SelectionList, Static, Switch


def tick(on: bool) -> str:
    return "[x]" if on else "[ ]"


def switch_state(on: bool) -> str:
    return f"{tick(on)} {'on' if on else 'off'}"


def switch_with_state(switch_id: str, value: bool, tooltip: str | None = None) -> ComposeResult:
    """A switch and its state in words (`#<id>-state`); `show_switch_state` keeps them in step."""
    yield Switch(value=value, id=switch_id, tooltip=tooltip)
    yield Static(switch_state(value), id=f"{switch_id}-state", classes="state", markup=False)


def show_switch_state(owner: Widget, event: Switch.Changed) -> None:
    """Call from the `Switch.Changed` handler of the screen or widget that composed the switch."""
    if event.switch.id and (state := owner.query(f"#{event.switch.id}-state")):
        state.first(Static).update(switch_state(event.value))


class TickedSelectionList(SelectionList):
    """A SelectionList whose toggle reads "[x]" when picked and "[ ]" when not, in its own
    colours as before."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        if len(segments) < 4 or segments[1].style is None or segments[1].style.meta.get("option") is None:
            return strip  # not an option's line (past the end of the list)
        picked = self.get_option_at_index(segments[1].style.meta["option"]).value in self.selected
        left, inner, _, *rest = segments
        bracket = (rest[0].style or Style()) + Style(meta=left.style.meta if left.style else {})  # still clickable
        marks = [Segment("[", bracket), Segment("x" if picked else " ", inner.style), Segment("]", bracket)]
        return Strip([*marks, *rest], strip.cell_length)

"""The last values of a form (F4's benchmark setup, F5's new-run form), kept for the session.

The app owns one `FormMemory` per screen and hands it to the screen when it pushes it; the
screen restores from it once mounted and saves into it when it closes, so reopening shows what
was typed, picked and switched last time, even values that did not validate. Nothing is written
to disk: config.toml holds settings, not half-filled forms.
"""

from contextlib import suppress
from dataclasses import dataclass, field

from textual.widget import Widget
from textual.widgets import Input, Select, SelectionList, Switch
from textual.widgets.select import InvalidSelectValueError

Value = str | bool | tuple[str, ...]


@dataclass
class FormMemory:
    values: dict[str, Value] = field(default_factory=dict)  # widget id -> its value

    def save(self, form: Widget) -> None:
        """Every input, select, switch and pick list under `form` that has an id."""
        for widget in form.query("Input, Select, Switch, SelectionList"):
            if widget.id is None:
                continue
            if isinstance(widget, SelectionList):
                self.values[widget.id] = tuple(widget.selected)
            elif isinstance(widget, (Input, Select, Switch)):
                self.values[widget.id] = widget.value

    def restore(self, form: Widget) -> None:
        """Put the saved values back; a select's remembered choice that is no longer offered, or
        a pick list's entry that is gone, is left out. Select.Changed is not posted: the form is
        as it was, not being changed."""
        with form.prevent(Select.Changed):
            for widget_id, value in self.values.items():
                found = form.query(f"#{widget_id}")
                if not found:
                    continue
                widget = found.first()
                if isinstance(widget, SelectionList) and isinstance(value, tuple):
                    widget.deselect_all()
                    offered = {widget.get_option_at_index(i).value for i in range(widget.option_count)}
                    for picked in value:
                        if picked in offered:
                            widget.select(picked)
                elif isinstance(widget, Select):
                    with suppress(InvalidSelectValueError):
                        widget.value = value
                elif isinstance(widget, (Input, Switch)):
                    widget.value = value

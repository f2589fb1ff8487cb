"""Pick a registered model (GGUF, HF folder or Hub id, with or without a LoRA adapter)."""

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from medtui.core.registry import ModelSpec


class ModelSwitcher(ModalScreen[str | None]):
    """Dismisses with the chosen model's name, or None."""

    CSS_PATH = "switcher.tcss"
    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, specs: list[ModelSpec], current: str) -> None:
        super().__init__()
        self.specs = specs
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(" Switch model  (add more with `medtui models add`)")
            options = []
            for spec in self.specs:
                label = Text(("● " if spec.name == self.current else "  ") + spec.name, style="bold")
                label.append(f"\n    {spec.describe()}", style="dim")
                options.append(Option(label, id=spec.name))
            yield OptionList(*options, id="models")
        yield Footer()

    def on_mount(self) -> None:
        names = [s.name for s in self.specs]
        self.query_one(OptionList).highlighted = names.index(self.current) if self.current in names else 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

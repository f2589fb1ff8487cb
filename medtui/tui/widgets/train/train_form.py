"""The new-run form: method, model, data and hyperparameters, turned into a `TrainConfig`.

It owns its buttons and posts `TrainForm.Requested` with the config for the screen to preview,
estimate or start; it never trains anything itself.
"""

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Select, Static, Switch

from medtui.core.errors import MedtuiError
from medtui.tui.styles import stylesheet
from medtui.tui.widgets.ticks import show_switch_state, switch_with_state
from medtui.tui.widgets.train.data_fields import data_fields
from trainers.api import BACKENDS, METHODS, QUANTS, TrainConfig

# (field, label, width) of the numeric hyperparameters, defaults from TrainConfig
NUMBERS: tuple[tuple[str, str, int], ...] = (
    ("lora_r", "r", 9),
    ("lora_alpha", "alpha", 9),
    ("lr", "lr", 13),
    ("epochs", "epochs", 10),
    ("max_steps", "max steps", 11),
    ("batch_size", "batch", 9),
    ("grad_accum", "accum", 9),
    ("max_seq_len", "seq len", 11),
)
_DEFAULTS = TrainConfig.__dataclass_fields__
# placeholders are short enough for the fields at 80 columns; what each field takes in full is here
SOURCES_HINT = (
    "Model: a registered name, an HF folder, a Hub id or a .gguf. SFT data: rows with question, "
    "Complex_CoT and Response, from a JSONL/CSV file, a saved dataset or a Hub id. CPT corpus: "
    "index:NAME, a Hub id, a JSONL/CSV file or a folder of .txt files."
)


class TrainForm(Vertical):
    DEFAULT_CSS = stylesheet(__file__)
    HELP = "Fill in a model and data, then Preview (formatted examples), Estimate (time, memory) or Start."

    @dataclass
    class Requested(Message):
        action: str  # "preview" | "estimate" | "start"
        config: TrainConfig

    def __init__(self, models: list[str], model: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.models = models
        self.model = model

    def compose(self) -> ComposeResult:
        # Rows of fields (a label and what it labels): a row wider than the terminal wraps its
        # fields into a grid (train_screen.tcss), so every field and button stays whole.
        with Horizontal(classes="fields"):
            with Horizontal(classes="field"):
                yield Label("Method")
                yield Select([(m, m) for m in METHODS], value="sft", allow_blank=False, id="method")
            with Horizontal(classes="field grow"):
                yield Label("Model")
                yield Input(
                    self.model, placeholder="name, path or Hub id", id="model", suggester=SuggestFromList(self.models)
                )
            with Horizontal(classes="field"):
                yield Label("Run name")
                yield Input(placeholder="(automatic)", id="name")
        with Horizontal(classes="fields"):
            yield from data_fields("data", "corpus")
        yield Static(SOURCES_HINT, classes="hint", markup=False)
        with Horizontal(classes="fields"):
            for field, label, width in NUMBERS:
                with Horizontal(classes="field"):
                    yield Label(label)
                    yield Input(str(_DEFAULTS[field].default), id=field, classes="number").set_styles(
                        f"width: {width};"
                    )
        with Horizontal(classes="fields"):
            with Horizontal(classes="field"):
                yield Label("Quant")
                yield Select([(q, q) for q in QUANTS], value="auto", allow_blank=False, id="quant")
            with Horizontal(classes="field"):
                yield Label("Backend")
                yield Select([(b, b) for b in BACKENDS], value="auto", allow_blank=False, id="backend")
            with Horizontal(classes="field"):
                yield Label("Packing")
                yield from switch_with_state("packing", True)
            with Horizontal(classes="field actions"):
                yield Button("Preview", id="preview")
                yield Button("Estimate", id="estimate")
                yield Button("Start", variant="primary", id="start")

    def config(self) -> TrainConfig:
        """The form as a TrainConfig; a bad value is a one-line MedtuiError naming the field."""
        text = {i.id: i.value.strip() for i in self.query(Input)}
        numbers = {}
        for field, label, _ in NUMBERS:
            kind = type(_DEFAULTS[field].default)
            try:
                numbers[field] = kind(text[field])
            except ValueError:
                raise MedtuiError(
                    f"{label}: {text[field]!r} is not a {'whole ' if kind is int else ''}number"
                ) from None
        if not text["model"]:
            raise MedtuiError("pick a model: a registered name, a model folder, a Hub id or a .gguf file")
        return TrainConfig(
            method=str(self.query_one("#method", Select).value),
            model=text["model"],
            name=text["name"],
            data=text["data"],
            corpus=text["corpus"],
            quant=str(self.query_one("#quant", Select).value),
            backend=str(self.query_one("#backend", Select).value),
            packing=self.query_one("#packing", Switch).value,
            **numbers,
        )

    def on_switch_changed(self, event: Switch.Changed) -> None:
        show_switch_state(self, event)

    @on(Button.Pressed)
    def _request(self, event: Button.Pressed) -> None:
        event.stop()
        try:
            config = self.config()
        except MedtuiError as e:
            self.notify(str(e), severity="error", timeout=10)
            return
        self.post_message(self.Requested(str(event.button.id), config))

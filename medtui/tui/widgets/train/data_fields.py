"""The two training-data fields, SFT data and CPT corpus, as F5's form and F4's seed study ask
for them: one layout and one pair of placeholders (short enough for 80 columns; each form's hint
says in full what they take)."""

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label


def data_fields(sft_id: str, cpt_id: str) -> ComposeResult:
    with Horizontal(classes="field grow"):
        yield Label("SFT data")
        yield Input(placeholder="path or Hub id", id=sft_id)
    with Horizontal(classes="field grow"):
        yield Label("CPT corpus")
        yield Input(placeholder="index:NAME or path", id=cpt_id)

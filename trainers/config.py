"""What a training run does, as one JSON-serialisable dataclass.

The same `TrainConfig` drives the CLI, the TUI wizard and the detached worker, and is what
`run.json` records, so a run can be resumed or reproduced from its folder alone. Defaults are
the research notebooks' (LoRA r 16, alpha 32, lr 1e-4, cosine, warmup, one epoch). A field made
with `option(...)` carries its CLI help and flags, from which `medtui train` builds its options.
"""

from dataclasses import MISSING, dataclass, field, replace
from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.text import check_name

METHODS = ("sft", "cpt", "msft")
QUANTS = ("auto", "4bit", "none")
BACKENDS = ("auto", "unsloth", "hf")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")


def option(help: str, *flags: str, default: Any = MISSING, minimum: int | None = None) -> Any:
    """A field `medtui train sft|cpt|msft` offers as an option: the CLI builds its flags from
    this help, these flags (default `--field-name`) and this limit, so they are stated once."""
    return field(default=default, metadata={"help": help, "flags": flags, "min": minimum})


@dataclass(frozen=True)
class TrainConfig:
    method: str  # sft | cpt | msft (cpt, merge, then sft): the command, not an option
    model: str = option("Registry name, .gguf file, HF folder or Hub id.", "--model", "-m")
    data: str = option("SFT rows: JSONL/CSV(.gz) file, saved dataset folder, or Hub id.", "--data", "-d", default="")
    corpus: str = option(
        "CPT text: index:NAME, Hub id (MedRAG/textbooks), JSONL/CSV, .txt/.md files.", "--corpus", "-c", default=""
    )
    name: str = option(
        "Run name (folder and registered model); rerun with it to resume.", default=""
    )  # empty: made from model + method + time
    subset: str | None = option("Hub dataset config, e.g. en.", default=None)
    split: str = option("Dataset split.", default="train")
    # the columns: None is guessed (Question, question, instruction, ...); a reasoning column may be absent
    question_field: str | None = option("Question column (guessed if absent).", default=None)
    reasoning_field: str | None = option("Reasoning column, put inside <think>.", default=None)
    answer_field: str | None = option("Answer column.", default=None)
    text_field: str | None = option("CPT text column.", default=None)
    system_prompt: str = option("System message for SFT prompts.", default="")
    limit: int | None = option("Use the first N rows only.", default=None, minimum=1)
    decontaminate: bool = option(
        "Drop benchmark test items.", "--decontaminate/--no-decontaminate", default=True
    )  # rows that repeat a benchmark test question
    # LoRA
    lora_r: int = option("LoRA rank.", default=16)
    lora_alpha: int = option("LoRA alpha.", default=32)
    lora_dropout: float = option("LoRA dropout (unsloth uses 0).", default=0.05)  # unsloth's fast path needs 0
    target_modules: tuple[str, ...] = option(
        "Comma-separated module names; default every linear layer.", default=()
    )  # empty: every linear layer of the blocks
    train_embeddings: bool = option(
        "Train the vocabulary too (CPT): LoRA on the embeddings, lm_head as a full copy.", default=False
    )
    embedding_lr: float = option("Learning rate of the embeddings and lm_head.", default=1e-5)
    # optimisation
    lr: float = option("Learning rate.", default=1e-4)
    scheduler: str = option("cosine, linear, constant, constant_with_warmup.", default="cosine")
    warmup_ratio: float = option("Warmup, as a fraction of the steps.", default=0.03)
    epochs: float = option("Epochs.", default=1.0)
    max_steps: int = option("Stop after N optimizer steps (overrides --epochs; -1: train --epochs).", default=-1)
    batch_size: int = option("Sequences per micro-batch.", default=2)
    grad_accum: int = option("Micro-batches per optimizer step.", default=4)
    max_seq_len: int = option("Longest sequence; longer SFT rows are dropped and counted.", default=2048)
    packing: bool = option("Pack SFT examples into full sequences.", "--packing/--no-packing", default=True)
    quant: str = option(
        "auto (4bit on CUDA, none on CPU), 4bit (QLoRA NF4; on CPU it saves memory, not time), none.", default="auto"
    )
    backend: str = option("auto, unsloth (CUDA), hf.", default="auto")  # auto: unsloth on CUDA when installed
    eval_fraction: float = option("Rows held out for the eval loss.", default=0.05)
    seed: int = option("Seed for the split, shuffling and LoRA init.", default=42)
    logging_steps: int = 1  # not an option: every step is logged
    save_steps: int = option("Checkpoint every N steps.", default=50)
    eval_steps: int = option("Eval loss every N steps.", default=50)
    gradient_checkpointing: bool = option("Trade compute for memory.", default=False)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the run

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse settings that cannot train, with the flag to change."""
        if self.method not in METHODS:
            raise MedtuiError(f"unknown method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.method in ("sft", "msft") and not self.data:
            raise MedtuiError(
                f"{self.method} needs SFT data: pass --data (a JSONL/CSV file, a saved dataset or a Hub id)"
            )
        if self.method in ("cpt", "msft") and not self.corpus:
            raise MedtuiError(
                f"{self.method} needs a corpus: pass --corpus (index:NAME, a Hub id, JSONL/CSV or .txt files)"
            )
        if self.name:
            check_name("run", self.name)  # it becomes the run's folder and its model's name
        for flag, value, allowed in (
            ("--quant", self.quant, QUANTS),
            ("--backend", self.backend, BACKENDS),
            ("--scheduler", self.scheduler, SCHEDULERS),
        ):
            if value not in allowed:
                raise MedtuiError(f"{flag} {value!r}: use one of {', '.join(allowed)}")
        if not 0 <= self.eval_fraction < 0.5:
            raise MedtuiError(f"--eval-fraction {self.eval_fraction}: use a value from 0 to 0.5")
        for flag, value in (
            ("--lora-r", self.lora_r),
            ("--batch-size", self.batch_size),
            ("--grad-accum", self.grad_accum),
            ("--max-seq-len", self.max_seq_len),
            ("--save-steps", self.save_steps),
            ("--eval-steps", self.eval_steps),
        ):
            if value < 1:
                raise MedtuiError(f"{flag} must be at least 1 (got {value})")
        if self.max_steps == 0 or self.max_steps < -1:  # 0 would train one step and register it
            raise MedtuiError(f"--max-steps must be at least 1, or -1 to train --epochs (got {self.max_steps})")
        if self.lr <= 0 or self.epochs <= 0:
            raise MedtuiError("--lr and --epochs must be positive")

    def replace(self, **changes: Any) -> "TrainConfig":
        return replace(self, **changes)

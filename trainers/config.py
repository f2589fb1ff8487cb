"""What a training run does, as one JSON-serialisable dataclass.

The same `TrainConfig` drives the CLI, the TUI wizard and the detached worker, and is what
`run.json` records, so a run can be resumed or reproduced from its folder alone. Defaults are
the research notebooks' (LoRA r 16, alpha 32, lr 1e-4, cosine, warmup, one epoch).
"""

import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from medtui.core.errors import MedtuiError

METHODS = ("sft", "cpt", "msft")
QUANTS = ("auto", "4bit", "none")
BACKENDS = ("auto", "unsloth", "hf")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
_NAME = re.compile(r"^[\w.-]+$")


@dataclass(frozen=True)
class TrainConfig:
    method: str  # sft | cpt | msft (cpt, merge, then sft)
    model: str  # registry name, HF folder, Hub id, or .gguf file
    data: str = ""  # SFT rows: Hub id, JSONL/CSV(.gz) file, or saved dataset folder
    corpus: str = ""  # CPT text: index:NAME, Hub id (MedRAG/textbooks), JSONL/CSV, .txt/.md file or folder
    name: str = ""  # run folder name; made from model + method + time when empty
    subset: str | None = None  # Hub dataset config (e.g. "en" for medical-o1-reasoning-SFT)
    split: str = "train"
    question_field: str | None = None  # None: guessed (Question, question, instruction, ...)
    reasoning_field: str | None = None  # None: guessed (Complex_CoT, reasoning, ...); absent is allowed
    answer_field: str | None = None  # None: guessed (Response, response, answer, output, ...)
    text_field: str | None = None  # CPT text column; None: guessed
    system_prompt: str = ""
    limit: int | None = None  # use only the first N rows of each dataset
    decontaminate: bool = True  # drop rows that repeat a benchmark test question
    # LoRA
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05  # the unsloth backend always uses 0 (its fast path)
    target_modules: tuple[str, ...] = ()  # empty: every linear layer of the blocks
    train_embeddings: bool = False  # CPT: LoRA on embed_tokens and lm_head trained as a full copy, at embedding_lr
    embedding_lr: float = 1e-5
    # optimisation
    lr: float = 1e-4
    scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 2
    grad_accum: int = 4
    max_seq_len: int = 2048
    packing: bool = True
    quant: str = "auto"  # auto: 4bit (QLoRA, NF4) on CUDA, else none; 4bit on CPU is allowed (memory, not speed)
    backend: str = "auto"  # auto: unsloth on CUDA when installed, else hf (transformers + peft + trl)
    eval_fraction: float = 0.05
    seed: int = 42
    logging_steps: int = 1
    save_steps: int = 50
    eval_steps: int = 50
    gradient_checkpointing: bool = False
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
        if self.name and not _NAME.match(self.name):
            raise MedtuiError(f"run name {self.name!r}: use letters, digits, '.', '_' or '-'")
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
        ):
            if value < 1:
                raise MedtuiError(f"{flag} must be at least 1 (got {value})")
        if self.lr <= 0 or self.epochs <= 0:
            raise MedtuiError("--lr and --epochs must be positive")

    def replace(self, **changes: Any) -> "TrainConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["target_modules"] = list(self.target_modules)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """From run.json: unknown keys (status, timestamps, ...) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["target_modules"] = tuple(values.get("target_modules") or ())
        return cls(**values)

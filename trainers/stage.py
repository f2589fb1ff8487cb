"""One training stage (SFT or CPT) from prepared data to a saved adapter, resumable.

Read top to bottom: tokenizer, data, LoRA model, TRL's SFTTrainer (pre-tokenized rows, so
TRL only builds labels and packs), train from the last usable checkpoint if there is one
(`trainers.checkpoints`), evaluate once at the end, then save the adapter atomically with
`base_model_name_or_path` pointing at the base it applies to.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medtui.core.datasource import DataReport
from medtui.core.files import atomic_dir
from trainers.backends import load_model, optimizer_for
from trainers.checkpoints import restore_finished, resume_point
from trainers.config import TrainConfig
from trainers.model import compute_dtype, load_tokenizer
from trainers.prepare import Prepared, prepare_cpt, prepare_sft
from trainers.runs import PROGRESS_FILE, OnPhase, PhaseName, ProgressRecord, Stage, append_progress, trim_progress

Log = Callable[[str], None]
OnRecord = Callable[[ProgressRecord], None]  # each progress record, as it is written


@dataclass(frozen=True)
class StageResult:
    adapter: Path | None  # None when stopped early (cancelled)
    global_step: int
    backend: str
    quant: str
    data: DataReport  # what this stage's data kept and left out


def _progress_callback(
    progress_file: Path, stage: Stage, stop: threading.Event, on_record: OnRecord | None, on_phase: OnPhase
):
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """progress.jsonl records; a set `stop` event saves a checkpoint and ends training."""

        def __init__(self) -> None:
            self.started = self.last_time = time.time()
            self.last_tokens = 0.0
            self.first_step: int | None = None

        def on_step_end(self, args, state, control, **kwargs):
            if self.first_step is None:
                self.first_step = state.global_step - 1
                on_phase(PhaseName.FIRST_STEP, 1, 1)
            if stop.is_set():
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            now = time.time()
            tokens_per_s = eta_s = None
            if "num_tokens" in logs and "loss" in logs:
                tokens = float(logs["num_tokens"])
                if now > self.last_time and tokens > self.last_tokens:
                    tokens_per_s = (tokens - self.last_tokens) / (now - self.last_time)
                self.last_tokens, self.last_time = tokens, now
            done = state.global_step - (self.first_step or 0)
            if done > 0 and state.max_steps:
                eta_s = (now - self.started) / done * (state.max_steps - state.global_step)
            logged = {
                key: float(logs[key]) for key in ("loss", "eval_loss", "learning_rate", "grad_norm") if key in logs
            }
            if "loss" not in logged and "eval_loss" not in logged:
                return
            record = ProgressRecord(
                stage=stage,
                step=state.global_step,
                max_steps=state.max_steps,
                epoch=round(float(state.epoch or 0), 4),
                time=now,
                loss=logged.get("loss"),
                eval_loss=logged.get("eval_loss"),
                lr=logged.get("learning_rate"),
                grad_norm=logged.get("grad_norm"),
                tokens_per_s=tokens_per_s,
                eta_s=eta_s,
            )
            append_progress(progress_file, record)
            if on_record:
                on_record(record)

    return ProgressCallback()


def _trainer(config: TrainConfig, method: str, model, tokenizer, data: Prepared, folder: Path, callbacks: list):
    import torch
    from datasets import Dataset
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback
    from trl import SFTConfig, SFTTrainer

    on_gpu = torch.cuda.is_available()
    has_eval = bool(data.eval)
    # TRL turns checkpointing on by default (a third more compute per step): only when asked.
    # transformers renamed the argument; the old name still works where the new one is missing.
    checkpointing = (
        "activation_checkpointing"
        if "activation_checkpointing" in SFTConfig.__dataclass_fields__
        else "gradient_checkpointing"
    )
    args = SFTConfig(
        **{checkpointing: config.gradient_checkpointing, f"{checkpointing}_kwargs": {"use_reentrant": False}},
        output_dir=str(folder / "checkpoints"),
        max_length=config.max_seq_len,
        packing=config.packing or method == "cpt",
        # SFT: best-fit packing of whole examples, attention kept inside each (position ids restart);
        # CPT: the corpus as one stream cut into max_seq_len blocks.
        packing_strategy="wrapped" if method == "cpt" else "bfd",
        completion_only_loss=method == "sft",
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio,  # a fraction of the steps when < 1
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps,
        seed=config.seed,
        data_seed=config.seed,
        bf16=on_gpu and compute_dtype() == torch.bfloat16,
        fp16=on_gpu and compute_dtype() == torch.float16,
        use_cpu=not on_gpu,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    tensorboard = TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(folder / "tensorboard")))
    optimizer = optimizer_for(model, config)
    return SFTTrainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        train_dataset=Dataset.from_list(data.train),
        eval_dataset=Dataset.from_list(data.eval) if has_eval else None,
        callbacks=[tensorboard, *callbacks],
        optimizers=(optimizer, None),
    )


def evaluated_at(log_history: list[dict], step: int) -> bool:
    """Whether the Trainer's log (kept in its checkpoints, so a resume has it too) has an eval at `step`."""
    return any("eval_loss" in entry and entry.get("step") == step for entry in log_history)


def save_adapter(model, base: str, out: Path) -> None:
    """Write to a partial folder, point the config at `base`, then rename into place."""
    with atomic_dir(out) as partial:
        model.save_pretrained(str(partial), safe_serialization=True)
        config_path = partial / "adapter_config.json"
        adapter_config = json.loads(config_path.read_text(encoding="utf-8"))
        adapter_config["base_model_name_or_path"] = base
        config_path.write_text(json.dumps(adapter_config, indent=2), encoding="utf-8")


def train_stage(
    config: TrainConfig,
    stage: Stage,
    base: str,
    folder: Path,
    stop: threading.Event,
    log: Log = print,
    on_record: OnRecord | None = None,
    progress_file: Path | None = None,
    on_phase: OnPhase | None = None,
) -> StageResult:
    """Train `stage` (SFT or CPT) on `base`; checkpoints and adapter go in `folder`, progress
    records (tagged with the stage) in `progress_file` (default: folder/progress.jsonl);
    `on_phase` hears of tokenizing, loading the base and the first step as they go."""
    import torch
    from transformers import PrinterCallback

    phase = on_phase or (lambda name, done, total: None)
    torch.manual_seed(config.seed)
    phase(PhaseName.TOKENIZING, 0, config.limit)
    tokenizer = load_tokenizer(base)
    data = (prepare_sft if stage is Stage.SFT else prepare_cpt)(
        config, tokenizer, lambda n: phase(PhaseName.TOKENIZING, n, config.limit)
    )
    rows = len(data.train) + len(data.eval)
    phase(PhaseName.TOKENIZING, rows, rows)
    log(
        f"{stage} data: {data.report.describe()}; {len(data.train)} train / {len(data.eval)} eval rows, "
        f"{data.train_tokens} train tokens"
    )
    phase(PhaseName.LOADING, 0, 1)
    model, backend, quant = load_model(config, base)
    phase(PhaseName.LOADING, 1, 1)
    phase(PhaseName.FIRST_STEP, 0, 1)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"backend {backend}, quant {quant}, LoRA r {config.lora_r}: {trainable:,} trainable parameters")
    progress_file = progress_file or folder / PROGRESS_FILE
    progress = _progress_callback(progress_file, stage, stop, on_record, phase)
    trainer = _trainer(config, stage.value, model, tokenizer, data, folder, [progress])
    trainer.remove_callback(PrinterCallback)  # progress.jsonl and the caller's display replace its dict prints
    resume = resume_point(folder, trainer, log)
    trim_progress(progress_file, stage, resume.step if resume else None)  # steps after it are trained again
    if resume:
        log(f"resuming from {resume.path}")
    if resume and resume.last:
        restore_finished(trainer, resume)
    else:
        trainer.train(resume_from_checkpoint=str(resume.path) if resume else None)
    step = trainer.state.global_step
    if stop.is_set() and step < trainer.state.max_steps:
        return StageResult(None, step, backend, quant, data.report)
    if data.eval and not evaluated_at(trainer.state.log_history, step):
        trainer.evaluate()  # the Trainer evaluates its last step; a run resumed at its end may lack that
    if trainer.is_world_process_zero():
        save_adapter(trainer.model, base, folder / "adapter")
    trainer.accelerator.wait_for_everyone()  # no rank goes on (merge, register) before the adapter exists
    return StageResult(folder / "adapter", step, backend, quant, data.report)

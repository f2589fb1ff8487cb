"""A run from start (or resume) to a registered adapter: SFT, CPT, or MSFT.

MSFT is continual pretraining, a merge of that adapter into the base at the base's own dtype
(trainers.model.merge_dtype; never 4-bit), then SFT on the merged model, under one run
folder: `stages/cpt/` (its own checkpoints and adapter) and `stages/merged/` (the merged HF
model, the base the final adapter applies to). A finished stage is skipped on resume, so a
crash during SFT never repeats the pretraining.
"""

import logging
import os
import threading
import time
import traceback

from medtui.core.errors import MedtuiError
from medtui.core.records import RunStatus
from trainers.model import materialize, merge_adapter, resolve_model
from trainers.runs import PROGRESS_FILE, DataCounts, OnPhase, Run, Stage, register, update_run
from trainers.stage import Log, OnRecord, StageResult, train_stage


def _quiet_libraries() -> None:
    """Training libraries log per step; our progress records and train.log say what matters.
    Imported whole here, in the worker's `starting` phase, so each later phase times its own work."""
    import peft  # noqa: F401
    import transformers
    import trl  # noqa: F401
    from transformers import PrinterCallback  # noqa: F401
    from trl import SFTTrainer  # noqa: F401

    transformers.logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _msft(
    run: Run, base: str, stop: threading.Event, log: Log, on_record: OnRecord | None, on_phase: OnPhase | None
) -> tuple[StageResult, str]:
    cpt_dir, merged = run.dir / "stages" / "cpt", run.dir / "stages" / "merged"
    if not (merged / "config.json").exists():
        if not (cpt_dir / "adapter" / "adapter_config.json").exists():
            cpt_dir.mkdir(parents=True, exist_ok=True)
            update_run(run, stage=Stage.CPT)
            result = train_stage(
                run.config, Stage.CPT, base, cpt_dir, stop, log, on_record, run.dir / PROGRESS_FILE, on_phase
            )
            update_run(run, cpt_data_report=DataCounts.of(result.data))
            if result.adapter is None:
                return result, base
        update_run(run, stage=Stage.MERGE)
        log(f"merging the CPT adapter into {base} -> {merged}")
        merge_adapter(base, cpt_dir / "adapter", merged)
    else:
        log("CPT stage already done: continuing with SFT on the merged model")
    update_run(run, stage=Stage.SFT)
    result = train_stage(run.config, Stage.SFT, str(merged), run.dir, stop, log, on_record, on_phase=on_phase)
    return result, str(merged)


def execute(
    run: Run,
    stop: threading.Event,
    log: Log = print,
    on_record: OnRecord | None = None,
    on_phase: OnPhase | None = None,
) -> Run:
    """Train, then mark the run complete and register it; failed or cancelled otherwise.
    `on_phase` hears of the work before the first step (dequantizing, tokenizing, loading).

    Always leaves run.json saying what happened; re-raises so the caller can set its exit code."""
    _quiet_libraries()
    config = run.config
    run = update_run(run, status=RunStatus.RUNNING, pid=os.getpid(), error=None, started=time.time())
    try:
        base = materialize(resolve_model(config.model), log, on_phase)
        if config.method == "msft":
            result, final_base = _msft(run, base, stop, log, on_record, on_phase)
        else:
            stage = Stage(config.method)
            update_run(run, base=base, stage=stage)
            result = train_stage(config, stage, base, run.dir, stop, log, on_record, on_phase=on_phase)
            final_base = base
        if result.adapter is None:
            log(f"stopped at step {result.global_step}; checkpoints kept: `medtui train resume {run.name}` continues")
            return update_run(run, status=RunStatus.CANCELLED, global_step=result.global_step)
        run = update_run(
            run,
            base=final_base,
            global_step=result.global_step,
            used_backend=result.backend,
            used_quant=result.quant,
            data_report=DataCounts.of(result.data),
        )
        register(run)  # before it is marked complete: a kill in between leaves a run that resume finishes
        run = update_run(run, status=RunStatus.COMPLETE, finished=time.time(), stage=Stage.DONE)
        log(f"complete: adapter at {run.adapter}, registered as model {run.name!r}")
        return run
    except KeyboardInterrupt:
        update_run(run, status=RunStatus.CANCELLED)
        raise
    except MedtuiError as e:
        update_run(run, status=RunStatus.FAILED, error=str(e))
        raise
    except Exception as e:
        update_run(run, status=RunStatus.FAILED, error=f"{type(e).__name__}: {e}")
        log(traceback.format_exc())
        raise

"""`medtui export RUN_OR_ADAPTER --quant q8_0|q4_k_m|f16`: a verified GGUF, registered for the chat."""

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from export.converter import Cancelled
from export.pipeline import ExportRequest, export_model
from export.quantize import QUANTS
from medtui.core.formatting import format_duration


def export(
    target: Annotated[
        str,
        typer.Argument(
            help="A training run (folder or name), a PEFT adapter folder, an HF model folder, or a registered model."
        ),
    ],
    quant: Annotated[str, typer.Option("--quant", "-q", help=f"GGUF type: {', '.join(QUANTS)}.")] = "q8_0",
    name: Annotated[str | None, typer.Option("--name", help="Name to register (default: <source>-<quant>).")] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="Base model folder, GGUF or registered name (overrides the adapter's).")
    ] = None,
    adapter_only: Annotated[
        bool, typer.Option("--adapter-only", help="Write a GGUF LoRA for a base GGUF instead of a merged model.")
    ] = False,
    base_gguf: Annotated[
        str | None, typer.Option("--base-gguf", help="The base GGUF a LoRA applies to (adapter route).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the exported GGUFs (default: <data>/gguf).")
    ] = None,
) -> None:
    """Merge, convert with llama.cpp, quantize, verify against the HF model, then register."""
    request = ExportRequest(target, quant, name, base, adapter_only, base_gguf, out)
    cancel = threading.Event()
    last = [""]

    def progress(stage: str, fraction: float, detail: str) -> None:
        if stage != last[0]:
            print(f"\n[{fraction:4.0%}] {stage}: {detail}", end="", file=sys.stderr, flush=True)
            last[0] = stage
        else:
            print(f"\r[{fraction:4.0%}] {stage}: {detail[:100]:<100}", end="", file=sys.stderr, flush=True)

    try:
        result = export_model(request, progress, cancel)
    except (KeyboardInterrupt, Cancelled):
        cancel.set()
        print("\nmedtui: export stopped; nothing was registered (the next run starts clean)", file=sys.stderr)
        raise typer.Exit(130) from None
    print(file=sys.stderr)
    v = result.verification
    print(f"exported {result.name}: {result.gguf}" + (f" + LoRA {result.adapter}" if result.adapter else ""))
    print(f"verified ({v.kind}): {v.describe()}")
    print(f"took {format_duration(result.seconds)}; chat with it: medtui --model {result.name}")

"""`medtui models list|add|remove|info|pull|catalog`."""

from pathlib import Path
from typing import Annotated

import typer

from medtui.cli.options import FLAGS, settings_from
from medtui.cli.progress import bytes_bar
from medtui.core.engines.memory_fit import FALLBACK_CTX, available
from medtui.core.errors import MedtuiError
from medtui.core.formatting import format_duration, format_size, hanging, report_width
from medtui.core.model_catalog import fits, load_catalog
from medtui.core.model_pull import pull as pull_model
from medtui.core.registry import Registry, spec_from_source
from medtui.core.text import printable

Offline = FLAGS["offline"]  # --offline/--online, as the chat commands take it

app = typer.Typer(
    no_args_is_help=True, help="List, add, pull and remove models; browse the catalogue; show a model's info."
)


@app.command("list")
def list_models() -> None:
    """Every registered model, the built-in default first."""
    for spec in Registry().all():
        missing = spec.kind == "gguf" and not Path(spec.source).is_file()
        flag = " (built-in)" if spec.builtin else ""
        print(f"{printable(spec.name)}\t{printable(spec.describe())}{flag}{'  [file missing]' if missing else ''}")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A short name for the model.")],
    source: Annotated[str, typer.Argument(help="A .gguf file, a Hugging Face model folder, or a Hub id (org/model).")],
    adapter: Annotated[
        str | None, typer.Option("--adapter", help="A LoRA adapter: PEFT folder (HF) or GGUF LoRA.")
    ] = None,
) -> None:
    """Register a model so the chat and `ask` can use it."""
    from medtui.core.engines.memory_fit import model_info

    spec = spec_from_source(name, source, adapter)
    if spec.kind == "gguf":
        model_info(spec)  # llama.cpp reads it (vocab only): a truncated or damaged file is refused now
    Registry().add(spec)
    print(f"added {spec.name}: {printable(spec.describe())}")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The model's name.")]) -> None:
    """Unregister a model (its files stay where they are)."""
    Registry().remove(name)
    print(f"removed {printable(name)}")


@app.command("info")
def info(name: Annotated[str, typer.Argument(help="The model's name.")]) -> None:
    """Architecture, size, context, quant, chat template, licence, and the memory it needs at the configured n_ctx."""
    from medtui.core.engines.memory_fit import fits, model_info, plan

    settings = settings_from()
    spec = Registry().get(name)
    found = model_info(spec)
    if found is None:
        raise MedtuiError(
            f"model {name}: its files are not on this machine ({spec.source}): they download on first use, "
            "or add a local folder with `medtui models add`"
        )
    avail = available(settings.memory_limit_bytes)
    planned = plan(found, settings, avail)
    est = planned.estimate
    ctx = f"n_ctx auto: {planned.n_ctx}" if settings.n_ctx == 0 else f"n_ctx {planned.n_ctx}"
    rows = {
        "model": f"{spec.name}  {spec.describe()}",
        "architecture": found.architecture,
        "parameters": f"{found.parameters / 1e6:,.1f}M",
        "layers": f"{found.layers} (embedding {found.embedding}, heads {found.heads}, KV heads {found.heads_kv}, "
        f"head dim {found.head_dim}, vocab {found.vocab})",
        "context": f"{found.trained_ctx} tokens trained",
        "quant": found.quant,
        "chat template": "yes" if found.chat_template else "no (ChatML is used)",
        "licence": found.license or "not stated in the files",
        "file size": format_size(found.file_bytes),
        "memory": f"{est.describe()}; {avail.describe()} available: "
        + ("fits" if fits(est, avail) else "does NOT fit (lower n_ctx, or a smaller quant)"),
        "GPU layers": f"{planned.n_gpu_layers} of {found.layers + 1} offloaded "
        f"({found.layers} layers and the output layer; {ctx})"
        if found.kind == "gguf"
        else f"none (transformers on CPU; {ctx})",
    }
    width = report_width()
    for key, value in rows.items():
        print(hanging(f"{key:<14} ", printable(value), width))


@app.command("pull")
def pull(
    repo: Annotated[
        str,
        typer.Argument(
            help="A Hub repo of GGUF files (org/repo, e.g. bartowski/Qwen2.5-1.5B-Instruct-GGUF, or its URL), "
            "or a name from `medtui models catalog`."
        ),
    ],
    file: Annotated[str | None, typer.Option("--file", help="The GGUF file (a split one's first part).")] = None,
    quant: Annotated[
        str | None, typer.Option("--quant", help="Pick the file by its quant word, e.g. Q4_K_M (the default), Q8_0.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The model's name (default: its catalogue name, else repo and quant).")
    ] = None,
    offline: Offline = None,
) -> None:
    """Download a GGUF into the Hugging Face cache (resumable), check its SHA-256, and register it."""
    settings_from(offline=offline)
    with bytes_bar() as (phase, update):
        result = pull_model(repo, file=file, quant=quant, name=name, progress=update, phase=phase)
    if result.already:
        print(f"already registered as {result.spec.name}: {printable(result.spec.source)}")
        return
    parts = f" ({len(result.files)} parts)" if len(result.files) > 1 else ""
    print(
        f"added {result.spec.name}: {format_size(result.size)}{parts}, SHA-256 checked, "
        f"in {format_duration(result.seconds)}: {printable(result.spec.source)}"
    )


@app.command("catalog")
def catalog() -> None:
    """Curated models for medical QA, with their sizes and whether each fits this machine now."""
    settings = settings_from()
    n_ctx = settings.n_ctx or FALLBACK_CTX  # 0 (auto): shown at the loader's own fallback context
    memory = available(settings.memory_limit_bytes)
    width = report_width()
    print(f"fits: at n_ctx {n_ctx}, in the {memory.describe()} free now")
    for entry in load_catalog():
        quant = entry.smallest_quant()
        fit = fits(entry, quant, n_ctx, memory)
        about = [f"{entry.params_b:g}B", entry.licence, *entry.notes]
        quants = ", ".join(f"{q} {format_size(f.size_bytes)}" for q, f in entry.files.items())
        print("\n" + hanging(f"{entry.name}  ", " · ".join(about), width))
        print(hanging("  quants  ", quants, width))
        print(hanging("  fits    ", f"{fit.verdict} at {quant}: {fit.reason}", width))
        # never wrapped, so it copies as one command
        print(f"  pull    medtui models pull {entry.gguf_repo} --quant {quant} --name {entry.name}")

"""`medtui doctor`: what is installed, which models and indexes are found, whether a GPU is there,
how llama.cpp was built, and whether the active model fits in memory now."""

from importlib import metadata
from pathlib import Path

from medtui.chat.attribution import attribution_notices
from medtui.core import paths
from medtui.core.assets import asset_status
from medtui.core.config import Settings, load_settings
from medtui.core.errors import MedtuiError
from medtui.core.formatting import labelled, report_width
from medtui.core.rag.index import SnippetIndex
from medtui.core.registry import Registry
from medtui.core.text import printable
from trainers.runs import list_runs

PACKAGES = [
    "torch",
    "transformers",
    "peft",
    "llama-cpp-python",
    "sentence-transformers",
    "chromadb",
    "bm25s",
    "textual",
]
OPTIONAL = ["trl", "bitsandbytes", "unsloth"]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _gpu() -> str:
    import torch

    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} device(s))"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "Apple MPS"
    return "none (CPU only)"


def _llama_build() -> str:
    """llama.cpp's own summary of what it was compiled with (CUDA, Metal, AVX2…), as one line."""
    import llama_cpp

    return " ".join(llama_cpp.llama_print_system_info().decode("utf-8", "replace").split()).rstrip(" |")


def _llama_gpu() -> str:
    from medtui.core.engines.memory_fit import gpu_offload_supported

    return "yes" if gpu_offload_supported() else "no (CPU build)"


def _fit(settings: Settings) -> str:
    """For the active model: the context and GPU layers a load would use, and whether it fits now."""
    from medtui.core.engines.memory_fit import available, fits, model_info, plan

    avail = available(settings.memory_limit_bytes)
    try:
        info = model_info(Registry().get(settings.model))
    except MedtuiError as e:
        return f"{avail.describe()} available; {settings.model}: {e}"
    if info is None:
        return f"{avail.describe()} available; {settings.model}: files not here yet, not estimated"
    planned = plan(info, settings, avail)
    layers = f", {planned.n_gpu_layers} of {info.layers + 1} layers offloaded" if info.kind == "gguf" else ""
    verdict = "fits" if fits(planned.estimate, avail) else "does NOT fit"
    return f"{avail.describe()} available; {settings.model}{layers}: needs {planned.estimate.describe()}: {verdict}"


def _training() -> str:
    """What `medtui train` would use here by default, before any run starts."""
    from trainers.backends import resolve_backend, resolve_quant
    from trainers.config import TrainConfig

    config = TrainConfig(method="sft", model="", data="-")
    return f"backend {resolve_backend(config)}, quant {resolve_quant(config)}"


def _converter() -> str:
    from export.converter import find_converter

    try:
        return str(find_converter())
    except MedtuiError as e:
        return f"missing: {e}"


def doctor() -> None:
    settings = load_settings()
    width = report_width()

    def section(title: str, rows: list[tuple[str, str]], indent: str = "  ") -> None:
        if title:
            print(f"\n{title}")
        for line in labelled([(printable(label), printable(value)) for label, value in rows], width, indent):
            print(line)

    model = (
        f"{settings.model}   index {settings.index}   rag {'on' if settings.rag else 'off'}   top_k {settings.top_k}"
    )
    config = f"{paths.config_file()}{'' if paths.config_file().exists() else ' (defaults)'}"
    notes = [("note", notice) for notice in attribution_notices(settings.reranker)]
    section("", [("config", config), ("data", str(paths.data_dir())), ("model", model), *notes], indent="")
    section("packages", [(name, _version(name)) for name in PACKAGES + OPTIONAL])
    section("bundled assets", list(asset_status().items()))
    print()
    machine = [("GPU", _gpu()), ("llama.cpp GPU offload", _llama_gpu()), ("llama.cpp build", _llama_build())]
    machine += [("memory", _fit(settings)), ("training", _training()), ("GGUF converter", _converter())]
    section("", machine, indent="")
    models = []
    for spec in Registry().all():
        found = Path(spec.source).exists() or spec.kind == "hf"
        models.append((spec.name, spec.describe() + ("" if found else "  [file missing]")))
    section("models", models)
    root = paths.indexes_dir()
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []
    indexes = []
    for name in names:
        try:
            manifest = SnippetIndex(name).manifest()
            indexes.append((name, f"{manifest.state}, {manifest.count} snippets, {manifest.embedder}"))
        except MedtuiError as e:
            indexes.append((name, str(e)))
    section("indexes", indexes)
    if not names:
        print("  none yet (the default index builds on first chat)")
    runs = list_runs()
    print(
        f"\ntraining runs  {len(runs)}" + (f" ({sum(r.status == 'complete' for r in runs)} complete)" if runs else "")
    )

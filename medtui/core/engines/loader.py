"""Pick and load the engine a registry entry needs."""

from medtui.core.config import Settings
from medtui.core.engines.base import Engine
from medtui.core.errors import MedtuiError
from medtui.core.registry import ModelSpec


def load_engine(spec: ModelSpec, settings: Settings) -> Engine:
    if spec.kind == "gguf":
        from medtui.core.engines.llamacpp import LlamaCppEngine

        return LlamaCppEngine(spec, n_ctx=settings.n_ctx, n_threads=settings.n_threads)
    if spec.kind == "hf":
        from medtui.core.engines.transformers_engine import TransformersEngine

        return TransformersEngine(spec, n_ctx=settings.n_ctx)
    raise MedtuiError(f"model {spec.name}: unknown kind {spec.kind!r}: use gguf or hf (`medtui models add` sets it)")

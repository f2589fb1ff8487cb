"""Pick and load the engine a registry entry needs, after checking that it fits in memory."""

from medtui.core.config import Settings
from medtui.core.engines.base import Engine
from medtui.core.engines.memory_fit import plan_load
from medtui.core.errors import MedtuiError
from medtui.core.registry import KINDS, ModelSpec


def load_engine(spec: ModelSpec, settings: Settings) -> Engine:
    if spec.kind not in KINDS:
        raise MedtuiError(
            f"model {spec.name}: unknown kind {spec.kind!r}: use gguf or hf (`medtui models add` sets it)"
        )
    plan = plan_load(spec, settings)  # refuses a model or context too big, before any weight is read
    if spec.kind == "gguf":
        from medtui.core.engines.llamacpp import LlamaCppEngine

        return LlamaCppEngine(spec, n_ctx=plan.n_ctx, n_threads=settings.n_threads, n_gpu_layers=plan.n_gpu_layers)
    from medtui.core.engines.transformers_engine import TransformersEngine

    return TransformersEngine(spec, n_ctx=plan.n_ctx)

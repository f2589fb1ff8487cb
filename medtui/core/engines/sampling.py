"""The sampling an answer is decoded with: per-model defaults that keep small models from
looping, and the one resolver every caller uses (docs/grounding.md section 6).

Precedence, lowest first: neutral `GenerationParams` < the built-in defaults below (the
embedded model's own, else the general one) < the model's `[models.NAME.sampling]` table in
models.toml < explicit config values (Settings `repeat_penalty`, `presence_penalty`,
`frequency_penalty`, `min_p`, `top_p`, `top_k_sampling`; None there means "not set").
"""

from pathlib import Path

from medtui.core.config import Settings
from medtui.core.engines.base import GenerationParams
from medtui.core.errors import MedtuiError
from medtui.core.registry import SAMPLING_KEYS, ModelSpec

# Measured with bench/sampling.py (12 medical questions, RAG off, max_tokens 200, seed 0, at
# temperatures 0, 0.2, 0.7 and 1.0; table in docs/results.md). SmolLM2-135M with neutral
# sampling looped on 4 of 12 answers at temperature 0 and ran into max_tokens on 3; with
# llama-cpp-python's own defaults (what medtui got before) it looped on 3 and was cut on 4 at
# the chat's 0.2. A repeat penalty of 1.1 alone ended every loop at 0 and 0.2 but not the
# rambling at 1.0 (5 cut); adding min_p 0.05 had the fewest loops and cuts over all four
# temperatures (3 of 48), no empty answer. Stronger penalties (1.15, 1.3) cut more answers at
# the higher temperatures.
EMBEDDED: dict[str, float] = {"repeat_penalty": 1.1, "min_p": 0.05}
# Every other model, until its models.toml entry says otherwise: the same mild values, aimed at
# the small models medtui runs on a laptop. min_p only trims tokens far below the likeliest,
# and 1.1 is the mildest penalty measured, so a capable model's wording is barely touched.
# Note that transformers applies the repeat penalty to the prompt's tokens too (llama.cpp only
# to the last 64 it generated), so on an HF model it also discourages copying source wording.
GENERAL: dict[str, float] = {"repeat_penalty": 1.1, "min_p": 0.05}


def _is_embedded(spec: ModelSpec) -> bool:
    """The packaged SmolLM2 weights, under any name they are registered or given as."""
    if spec.builtin:
        return True
    from medtui.core.assets import asset_path

    try:
        return Path(spec.source).resolve() == asset_path("smollm2_gguf").resolve()
    except (MedtuiError, OSError):
        return False


def builtin_defaults(spec: ModelSpec) -> dict[str, float]:
    """The sampling medtui ships for this model, before models.toml and config have a say."""
    return dict(EMBEDDED if _is_embedded(spec) else GENERAL)


def generation_params(settings: Settings, spec: ModelSpec, max_tokens: int) -> GenerationParams:
    """How to decode an answer of at most `max_tokens` from `spec` under `settings`."""
    values = {**builtin_defaults(spec), **spec.sampling}
    for key, setting in SAMPLING_KEYS.items():
        if (value := getattr(settings, setting)) is not None:
            values[key] = value
    if "top_k" in values:
        values["top_k"] = int(values["top_k"])
    return GenerationParams(max_tokens=max_tokens, temperature=settings.temperature, seed=settings.seed, **values)

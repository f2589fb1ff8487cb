"""Model engines: llama.cpp for GGUF files, transformers (+peft) for HF folders and Hub ids."""

from medtui.core.engines.base import Engine, GenerationParams
from medtui.core.engines.loader import load_engine

__all__ = ["Engine", "GenerationParams", "load_engine"]

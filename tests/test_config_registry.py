"""Settings layering and the model registry, on real files in a temporary home."""

import pytest

from medtui.core import paths
from medtui.core.config import Settings, load_settings
from medtui.core.errors import MedtuiError
from medtui.core.registry import DEFAULT_MODEL, Registry, spec_from_source


def test_defaults_then_file_then_env(monkeypatch):
    assert load_settings() == Settings()
    paths.config_dir().mkdir(parents=True)
    paths.config_file().write_text('top_k = 7\nrag = false\n[keys]\ncancel = "ctrl+x"\n', encoding="utf-8")
    monkeypatch.setenv("MEDTUI_TOP_K", "3")
    settings = load_settings()
    assert (settings.top_k, settings.rag, settings.keys) == (3, False, {"cancel": "ctrl+x"})
    assert settings.replace(top_k=None, rag=True).rag is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("top_k = 'many'", "not a valid int"),
        ("colour = 'red'", "unknown setting 'colour'"),
        ("top_k = [", "invalid TOML"),
        (b"system_prompt = '\xff'", "not valid UTF-8"),
    ],
)
def test_bad_config_is_one_line_with_path(content, message):
    paths.config_dir().mkdir(parents=True)
    path = paths.config_file()
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(MedtuiError, match=message) as info:
        load_settings()
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_registry_add_list_remove(tmp_path, smollm2_gguf, tiny_hf_model):
    registry = Registry()
    assert [s.name for s in registry.all()] == [DEFAULT_MODEL]
    registry.add(spec_from_source("tiny", str(tiny_hf_model)))
    registry.add(spec_from_source("copy", str(smollm2_gguf)))
    registry.add(spec_from_source("hub", "HuggingFaceTB/SmolLM2-135M-Instruct"))
    assert {s.name: s.kind for s in Registry().all()} == {
        DEFAULT_MODEL: "gguf",
        "copy": "gguf",
        "hub": "hf",
        "tiny": "hf",
    }
    with pytest.raises(MedtuiError, match="already exists"):
        registry.add(spec_from_source("tiny", str(tiny_hf_model)))
    registry.remove("tiny")
    assert "tiny" not in [s.name for s in registry.all()]
    with pytest.raises(MedtuiError, match="cannot be removed"):
        registry.remove(DEFAULT_MODEL)


@pytest.mark.parametrize(
    ("source", "message"),
    [("missing.gguf", "GGUF file not found"), ("not a model", "not a .gguf file, a model folder, or a Hub id")],
)
def test_registry_rejects_bad_sources(source, message):
    with pytest.raises(MedtuiError, match=message):
        spec_from_source("x", source)

"""Settings layering, the model registry and its one resolver, and write-then-rename, on real
files in a temporary home."""

import json

import pytest

from medtui.core import paths
from medtui.core.config import Settings, load_settings
from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_dir, atomic_file, partial_path
from medtui.core.registry import DEFAULT_MODEL, ModelSpec, Registry, resolve_base, resolve_model, spec_from_source


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


def test_one_resolver_for_every_kind_of_model_argument(tmp_path, smollm2_gguf, tiny_hf_model):
    gguf, hf = str(smollm2_gguf.resolve()), str(tiny_hf_model.resolve())
    assert resolve_model(DEFAULT_MODEL) == ModelSpec(DEFAULT_MODEL, "gguf", gguf, builtin=True)
    assert resolve_model(str(smollm2_gguf)) == ModelSpec(smollm2_gguf.stem, "gguf", gguf)
    assert resolve_model(str(tiny_hf_model)) == ModelSpec(tiny_hf_model.name, "hf", hf)
    hub = "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve_model(hub) == ModelSpec("SmolLM2-135M-Instruct", "hf", hub)

    adapter = tmp_path / "lora"  # a PEFT adapter: its base plus itself, or put on another base
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_hf_model)}))
    assert resolve_model(str(adapter)) == ModelSpec("lora", "hf", hf, str(adapter))
    assert resolve_model(str(adapter), base=DEFAULT_MODEL) == ModelSpec("lora", "gguf", gguf, str(adapter))
    assert resolve_model(str(tiny_hf_model), base=DEFAULT_MODEL).source == hf  # a plain model keeps its own

    Registry().add(spec_from_source("tuned", str(tiny_hf_model), str(adapter)))
    assert resolve_model("tuned") == ModelSpec("tuned", "hf", hf, str(adapter))
    for carrying in ("tuned", str(adapter)):  # what trains or takes an adapter must be plain
        with pytest.raises(MedtuiError, match="carries a LoRA adapter"):
            resolve_base(carrying)
    assert resolve_base(DEFAULT_MODEL).source == gguf


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("nope", "unknown model 'nope': give a name from `medtui models list`"),
        ("missing.gguf", "GGUF file not found"),
        ("{tmp}", "no config.json here"),
        ("{tmp}/lora", "does not name its base model"),
    ],
)
def test_resolver_refuses_in_one_line(tmp_path, argument, message):
    (tmp_path / "lora").mkdir()
    (tmp_path / "lora" / "adapter_config.json").write_text("{}")
    with pytest.raises(MedtuiError, match=message) as info:
        resolve_model(argument.format(tmp=tmp_path))
    assert "\n" not in str(info.value)


def test_atomic_dir_renames_only_a_finished_folder_and_clears_a_stale_partial(tmp_path):
    target = tmp_path / "bm25"
    with pytest.raises(RuntimeError), atomic_dir(target) as partial:
        (partial / "half.bin").write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert not target.exists() and not partial.exists()  # nothing final, nothing left over

    partial.mkdir()
    (partial / "stale.bin").write_bytes(b"from a killed process")
    with atomic_dir(target) as fresh:
        assert fresh == partial and not any(fresh.iterdir())
        (fresh / "ids.json").write_text("[1]")
    assert (target / "ids.json").read_text() == "[1]" and not partial.exists()

    with pytest.raises(RuntimeError), atomic_dir(target) as again:
        (again / "ids.json").write_text("[2]")
        raise RuntimeError("failed")
    assert (target / "ids.json").read_text() == "[1]" and not again.exists()  # the previous one stays


def test_atomic_file_replaces_only_on_success(tmp_path):
    target = tmp_path / "models.toml"
    stale = partial_path(target)
    stale.write_text("a stale half")
    with pytest.raises(RuntimeError), atomic_file(target) as partial:
        assert not partial.exists()  # the stale partial was cleared
        partial.write_text("half")
        raise RuntimeError("failed")
    assert not target.exists() and not stale.exists()
    with atomic_file(target) as partial:
        partial.write_text("whole")
    assert target.read_text() == "whole" and not stale.exists()


def test_a_models_sampling_table_round_trips(smollm2_gguf):
    spec = spec_from_source("tuned", str(smollm2_gguf))
    Registry().add(ModelSpec(spec.name, spec.kind, spec.source, sampling={"repeat_penalty": 1.2, "top_k": 40}))
    assert "[models.tuned.sampling]" in paths.models_file().read_text(encoding="utf-8")
    loaded = Registry().get("tuned")
    assert loaded.sampling == {"repeat_penalty": 1.2, "top_k": 40} and isinstance(loaded.sampling["top_k"], int)
    assert resolve_model("tuned").sampling == loaded.sampling  # the resolver keeps it
    assert hash(loaded) == hash(spec)  # still hashable; the table is left out of the hash
    Registry().add(spec_from_source("plain", str(smollm2_gguf)))  # no table written for none
    assert "[models.plain.sampling]" not in paths.models_file().read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("colour = 1.0", "unknown sampling key 'colour'; allowed: repeat_penalty"),
        ("repeat_penalty = 5.0", r"sampling.repeat_penalty = 5.0 is out of range: use 1.0 to 2.0"),
        ("min_p = -0.1", r"sampling.min_p = -0.1 is out of range"),
        ("top_k = 2000", r"sampling.top_k = 2000 is out of range: use 0 to 1000"),
        ("top_k = 4.5", r"sampling.top_k = 4.5 must be a whole number"),
        ("top_p = 'high'", r"sampling.top_p = 'high' must be a number"),
        ("top_p = true", r"sampling.top_p = True must be a number"),
    ],
)
def test_a_bad_sampling_table_is_one_line_naming_file_model_and_key(smollm2_gguf, table, message):
    path = paths.models_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[models.mine]\nkind = "gguf"\nsource = "{smollm2_gguf}"\n\n[models.mine.sampling]\n{table}\n',
        encoding="utf-8",
    )
    with pytest.raises(MedtuiError, match=message) as info:
        Registry().all()
    assert "\n" not in str(info.value) and str(path) in str(info.value) and "model 'mine'" in str(info.value)
    with pytest.raises(MedtuiError, match=message):  # nor can add() write one
        path.unlink()
        Registry().add(ModelSpec("mine", "gguf", str(smollm2_gguf), sampling=_table(table)))


def _table(line: str) -> dict:
    import tomllib

    return tomllib.loads(line)


def test_sampling_that_is_not_a_table_is_one_line(smollm2_gguf):
    path = paths.models_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[models.mine]\nkind = "gguf"\nsource = "{smollm2_gguf}"\nsampling = "calm"\n', encoding="utf-8")
    with pytest.raises(MedtuiError, match=r"model 'mine': sampling must be a table like \[models.NAME.sampling\]"):
        Registry().all()

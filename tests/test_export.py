"""GGUF export round trips with llama.cpp's real converter: tiny Llama + LoRA and SmolLM2 + a
trained LoRA, merged or as a GGUF LoRA, checked against the merged HF model; and the failures."""

import json
import shutil
import threading
from pathlib import Path

import pytest

from export import space
from export.converter import Cancelled, find_converter, supported_architectures
from export.merge import load_base, load_merged
from export.pipeline import ExportRequest, export_model
from export.sources import ExportSource, resolve_source
from export.verify import THRESHOLDS
from medtui.core.engines.gguf_file import file_type, nearest_quant, quant_file_type
from medtui.core.errors import MedtuiError
from medtui.core.records import Quant
from medtui.core.registry import Registry, spec_from_source
from tests.test_cli import one_line_error, run

PROMPT = [{"role": "user", "content": "What are the symptoms of anemia?"}]


@pytest.fixture(scope="session", autouse=True)
def converter() -> Path:
    """The fetched llama.cpp converter (scripts/setup fetches it); a clear failure when absent."""
    return find_converter()


def make_adapter(base: str, out: Path, train_steps: int = 0) -> Path:
    """A real PEFT LoRA on q/k/v/o and the MLP: trained a few steps on medical text, or with random B so it matters."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model, tok = load_base(ExportSource("base", base, None))
    config = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    peft = get_peft_model(model, config)
    if train_steps:
        ids = tok(
            "Anemia is a lack of healthy red blood cells. Iron deficiency is its most common cause; "
            "symptoms include fatigue, pallor and shortness of breath.",
            return_tensors="pt",
        )["input_ids"]
        opt = torch.optim.AdamW([p for p in peft.parameters() if p.requires_grad], lr=2e-3)
        for _ in range(train_steps):
            loss = peft(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
    else:
        with torch.no_grad():
            for name, p in peft.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.05)
    peft.save_pretrained(out, safe_serialization=True)
    config_path = out / "adapter_config.json"
    config_json = json.loads(config_path.read_text())
    config_json["base_model_name_or_path"] = base
    config_path.write_text(json.dumps(config_json))
    return out


@pytest.fixture(scope="module")
def tiny_adapter(tiny_hf_model, tmp_path_factory) -> Path:
    return make_adapter(str(tiny_hf_model), tmp_path_factory.mktemp("tiny-lora"))


def greedy_hf(merged, ids: list[int], n: int) -> list[int]:
    import torch

    with torch.no_grad():
        out = merged.model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, pad_token_id=0)
    return out[0, len(ids) :].tolist()


def greedy_gguf(gguf: Path, ids: list[int], n: int, adapter: Path | None = None) -> list[int]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), lora_path=str(adapter) if adapter else None, n_ctx=256, verbose=False)
    try:
        out = []
        for token in llm.generate(ids, temp=0.0, top_k=1):
            out.append(token)
            if len(out) == n:
                break
        return out
    finally:
        llm.close()


def prompt_ids(merged) -> list[int]:
    tok = merged.tokenizer
    return tok(tok.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False), add_special_tokens=False)[
        "input_ids"
    ]


def test_tiny_lora_merged_to_f16_and_q8_0_matches_hf_and_is_registered(tiny_adapter, tmp_path):
    out = tmp_path / "exports"
    (out / "tiny-lora-f16.partial").mkdir(parents=True)
    (out / "tiny-lora-f16.partial" / "junk.gguf").write_bytes(b"GGUF half")  # what a killed export left
    stages: list[str] = []
    f16 = export_model(
        ExportRequest(str(tiny_adapter), "f16", name="tiny-lora-f16", out_dir=out),
        lambda stage, fraction, detail: stages.append(stage),
    )
    q8 = export_model(ExportRequest(str(tiny_adapter), "q8_0", name="tiny-lora-q8", out_dir=out))

    assert sorted(p.name for p in out.iterdir()) == ["tiny-lora-f16", "tiny-lora-q8"]  # no partial left
    assert list(dict.fromkeys(stages)) == ["merge", "convert", "verify", "register"]  # f16: no quantize stage
    assert f16.gguf == out / "tiny-lora-f16" / "tiny-lora-f16.f16.gguf"
    registered = {s.name: s for s in Registry().all()}
    assert registered["tiny-lora-q8"].source == str(q8.gguf) and registered["tiny-lora-q8"].kind == "gguf"
    report = json.loads((out / "tiny-lora-q8" / "verification.json").read_text())
    assert report["passed"] and report["quant"] == "q8_0"

    merged = load_merged(resolve_source(str(tiny_adapter)))
    ids = prompt_ids(merged)
    expected = greedy_hf(merged, ids, 16)
    assert greedy_gguf(f16.gguf, ids, 16) == expected
    assert f16.verification.top1 >= THRESHOLDS["f16"].top1 and f16.verification.ppl_rel <= THRESHOLDS["f16"].ppl_rel
    assert q8.verification.passed and q8.verification.template_ok and q8.verification.tokens_ok
    assert q8.gguf.stat().st_size < f16.gguf.stat().st_size

    from gguf import GGUFReader

    field = GGUFReader(q8.gguf).get_field("tokenizer.chat_template")
    assert field.contents() == merged.tokenizer.chat_template


def test_tiny_adapter_route_gguf_lora_on_a_base_gguf(tiny_hf_model, tiny_adapter, tmp_path):
    out = tmp_path / "exports"
    base = export_model(ExportRequest(str(tiny_hf_model), "f16", name="tiny-base", out_dir=out))
    lora = export_model(
        ExportRequest(
            str(tiny_adapter), "f16", name="tiny-lora", adapter_only=True, base_gguf=str(base.gguf), out_dir=out
        )
    )
    spec = Registry().get("tiny-lora")
    assert (spec.kind, spec.source, spec.adapter) == ("gguf", str(base.gguf), str(lora.adapter))
    assert lora.verification.passed and lora.verification.kind == "f16"
    merged = load_merged(resolve_source(str(tiny_adapter)))
    ids = prompt_ids(merged)
    assert greedy_gguf(base.gguf, ids, 12, lora.adapter) == greedy_hf(merged, ids, 12)
    assert greedy_gguf(base.gguf, ids, 12) != greedy_hf(merged, ids, 12)  # the LoRA is what makes them agree


def test_smollm2_with_a_trained_lora_exports_q8_0_and_as_gguf_lora(smollm2_gguf, tmp_path):
    adapter = make_adapter(str(smollm2_gguf), tmp_path / "smol-lora", train_steps=6)
    out = tmp_path / "exports"
    q8 = export_model(ExportRequest(str(adapter), "q8_0", name="smol-med-q8", out_dir=out))
    v = q8.verification
    assert v.passed and v.top1 >= THRESHOLDS["q8_0"].top1 and v.ppl_rel <= THRESHOLDS["q8_0"].ppl_rel
    assert 1 < v.ppl_hf < 100 and v.positions > 200
    lora = export_model(ExportRequest(str(adapter), "f16", name="smol-med-lora", adapter_only=True, out_dir=out))
    assert lora.gguf == smollm2_gguf  # one packaged base serves the adapter
    assert lora.verification.passed and lora.verification.kind == "same_base", lora.verification.describe()


def test_interrupted_export_registers_nothing_and_leaves_no_gguf(tiny_adapter, tmp_path):
    out = tmp_path / "exports"
    cancel = threading.Event()

    def progress(stage: str, fraction: float, detail: str) -> None:
        if stage == "convert" and detail != "llama.cpp convert_hf_to_gguf.py":
            cancel.set()  # the converter has started printing: kill it mid-way

    with pytest.raises(Cancelled):
        export_model(ExportRequest(str(tiny_adapter), "q8_0", name="stopped", out_dir=out), progress, cancel)
    assert not list(out.rglob("*.gguf")) and not (out / "stopped").exists() and not (out / "stopped.partial").exists()
    assert [s.name for s in Registry().all()] == ["smollm2"]


def test_failed_verification_refuses_to_register(tiny_adapter, tmp_path, monkeypatch):
    from export import verify

    monkeypatch.setitem(verify.THRESHOLDS, "f16", verify.Thresholds(top1=1.01, ppl_rel=0.0))
    with pytest.raises(MedtuiError, match=r"failed verification .*top-1 agreement .* perplexity HF"):
        export_model(ExportRequest(str(tiny_adapter), "f16", name="refused", out_dir=tmp_path))
    assert not list(tmp_path.rglob("*.gguf")) and [s.name for s in Registry().all()] == ["smollm2"]


def test_unknown_architecture_and_missing_tokenizer_are_refused_up_front(tiny_hf_model, tmp_path):
    odd = tmp_path / "odd"
    shutil.copytree(tiny_hf_model, odd)
    config = json.loads((odd / "config.json").read_text())
    (odd / "config.json").write_text(json.dumps({**config, "architectures": ["MedFooForCausalLM"]}))
    with pytest.raises(MedtuiError, match="unknown architecture MedFooForCausalLM"):
        export_model(ExportRequest(str(odd), "f16", out_dir=tmp_path / "exports"))
    assert "LlamaForCausalLM" in supported_architectures(find_converter())

    bare = tmp_path / "bare"
    bare.mkdir()
    for f in tiny_hf_model.iterdir():
        if not f.name.startswith(("tokenizer", "special_tokens", "vocab", "merges", "chat_template")):
            shutil.copy(f, bare / f.name)
    with pytest.raises(MedtuiError, match="no tokenizer files .* copy them"):
        export_model(ExportRequest(str(bare), "f16", out_dir=tmp_path / "exports"))
    assert not (tmp_path / "exports").exists()


def test_not_enough_disk_is_checked_before_writing(tiny_hf_model, tmp_path, monkeypatch):
    with pytest.raises(MedtuiError, match="not enough disk space"):  # the real free-space reading
        space.check_space(tmp_path, 10**18)
    monkeypatch.setattr(space, "free_bytes", lambda folder: 1000)
    with pytest.raises(
        MedtuiError, match=r"not enough disk space in .*exports: the export needs about .* MB, 1 KB free"
    ):
        export_model(ExportRequest(str(tiny_hf_model), "q4_k_m", out_dir=tmp_path / "exports"))
    assert not (tmp_path / "exports").exists()


def test_unfinished_run_is_refused_and_complete_run_resolves(tiny_hf_model, tiny_adapter, smollm2_gguf, medtui_home):
    from medtui.core.records import RunStatus
    from trainers.config import TrainConfig
    from trainers.runs import create_run, update_run

    run = update_run(create_run(TrainConfig(method="sft", model="smollm2", data="d", name="med-sft")),
                     base=str(tiny_hf_model))  # fmt: skip
    with pytest.raises(MedtuiError, match="training run med-sft is running, not complete"):
        resolve_source("med-sft")
    shutil.copytree(tiny_adapter, run.dir / "adapter")
    update_run(run, status=RunStatus.COMPLETE)
    source = resolve_source("med-sft")
    assert (source.name, source.base, source.adapter) == ("med-sft", str(tiny_hf_model), run.dir / "adapter")
    assert source.source_gguf == smollm2_gguf  # trained on the dequantized packaged GGUF: the LoRA's default base


def test_cli_errors_are_one_line():
    one_line_error(run("export", "nowhere-model", "--quant", "q8_0"), "unknown model 'nowhere-model'")
    one_line_error(run("export", "smollm2", "--quant", "q3"), "unknown quant 'q3'")


def test_export_sources_go_through_the_one_resolver(tiny_hf_model, smollm2_gguf, tmp_path):
    adapter = tmp_path / "smol-lora"  # a PEFT adapter trained on the packaged GGUF, as test LoRAs are
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(smollm2_gguf)}))
    source = resolve_source(str(adapter))
    assert (source.name, source.base, source.adapter) == ("smol-lora", str(smollm2_gguf.resolve()), adapter)
    assert source.base_is_gguf and source.source_gguf == smollm2_gguf.resolve()
    assert resolve_source(str(adapter), base=str(tiny_hf_model)).base == str(tiny_hf_model.resolve())
    assert resolve_source(str(tiny_hf_model)) == ExportSource(tiny_hf_model.name, str(tiny_hf_model.resolve()), None)
    with pytest.raises(MedtuiError, match="'smollm2' is already a GGUF"):
        resolve_source("smollm2")
    Registry().add(spec_from_source("tuned", str(tiny_hf_model), str(adapter)))
    with pytest.raises(MedtuiError, match="'tuned' carries a LoRA adapter"):
        resolve_source(str(adapter), base="tuned")


def write_gguf(path: Path, file_type: int) -> Path:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_file_type(file_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_gguf_file_types_are_named_and_an_unknown_one_is_refused(tiny_adapter, smollm2_gguf, tmp_path):
    import llama_cpp
    from gguf import LlamaFileType

    assert file_type(smollm2_gguf) is LlamaFileType.MOSTLY_Q4_1
    assert nearest_quant(LlamaFileType.MOSTLY_Q4_1) is Quant.Q4_K_M  # the loosest thresholds
    assert nearest_quant(file_type(write_gguf(tmp_path / "bf16.gguf", 32))) is Quant.F16
    assert nearest_quant(LlamaFileType.MOSTLY_Q8_0) is Quant.Q8_0
    assert int(quant_file_type(Quant.Q4_K_M)) == llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M  # what llama.cpp quantizes to
    for odd in (999, int(LlamaFileType.GUESSED)):
        with pytest.raises(MedtuiError, match=f"unknown GGUF file type {odd}"):
            file_type(write_gguf(tmp_path / f"odd-{odd}.gguf", odd))
    with pytest.raises(MedtuiError, match="unknown GGUF file type 999"):  # before any work
        export_model(
            ExportRequest(
                str(tiny_adapter), "f16", adapter_only=True, base_gguf=str(tmp_path / "odd-999.gguf"), out_dir=tmp_path
            )
        )
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(MedtuiError, match="unknown quant 'q3': use one of f16, q8_0, q4_k_m"):
        Quant.parse("q3")

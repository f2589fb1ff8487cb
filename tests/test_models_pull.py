"""`medtui models pull` and the catalogue, against a Hub cache laid out as huggingface_hub lays
it out (blobs named by SHA-256, snapshot links, refs/main) around the embedded GGUF, with
HF_HUB_OFFLINE=1 so huggingface_hub's own resolution code finds the files. Gated repos need a
Hub account and a network: untested here."""

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from huggingface_hub import constants, scan_cache_dir, try_to_load_from_cache
from huggingface_hub.hf_api import ModelInfo
from textual.app import App
from textual.widgets import OptionList, Static
from typer.testing import CliRunner

from medtui.cli.app import app
from medtui.core import hub
from medtui.core.engines.memory_fit import Available, estimate
from medtui.core.errors import MedtuiError
from medtui.core.model_catalog import CatalogEntry, CatalogFile, Shape, fits, load_catalog, model_info
from medtui.core.model_pull import (
    PullCancelled,
    RepoFile,
    check_disk,
    choose,
    group,
    pull,
    quant_of,
    repo_files,
)
from medtui.core.registry import Registry
from medtui.tui.screens.switcher import PULL, ModelSwitcher
from tests.test_tui_chat import wait_for

REPO = "medtui-test/SmolLM2-135M-Instruct-GGUF"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SMOL = "SmolLM2-135M-Instruct-Q4_1.gguf"
# A catalogue repo, holding the embedded GGUF under the catalogue's file name, so the switcher's
# "pull" entry runs as it does for real, from the cache.
CATALOGUED = ("unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF", "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf")


def add_to_cache(cache: Path, repo: str, files: dict[str, bytes | Path], commit: str = COMMIT) -> None:
    """Files of `repo` at `commit` as huggingface_hub stores them: blobs/<sha256>, a relative link
    snapshots/<commit>/<file> to it, refs/main holding the commit."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    for name, content in files.items():
        blob = folder / "blobs" / _sha256(content)
        blob.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, blob)
        else:
            blob.write_bytes(content)
        link = folder / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)


def _sha256(content: bytes | Path) -> str:
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    digest = hashlib.sha256()
    with content.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, smollm2_gguf) -> Path:
    """One cache for the module: the embedded GGUF plus a small Q8_0 beside it, a split GGUF, an
    ambiguous repo, and a repo whose blob was cut short under its full file's SHA-256 name."""
    cache = tmp_path_factory.mktemp("hf-cache")
    add_to_cache(cache, REPO, {SMOL: smollm2_gguf, "SmolLM2-135M-Instruct-Q8_0.gguf": b"GGUF" + b"\0" * 60})
    add_to_cache(
        cache,
        "medtui-test/Split-GGUF",
        {
            "Split-Q8_0-00001-of-00002.gguf": b"GGUF" + b"\1" * 100,
            "Split-Q8_0-00002-of-00002.gguf": b"GGUF" + b"\2" * 100,
        },
    )
    add_to_cache(cache, CATALOGUED[0], {CATALOGUED[1]: smollm2_gguf})
    add_to_cache(cache, "medtui-test/Twins-GGUF", {"a-Q4_K_M.gguf": b"GGUF a", "b-Q4_K_M.gguf": b"GGUF b"})
    whole = b"GGUF" + bytes(range(256)) * 64
    cut = cache / "models--medtui-test--Cut-GGUF"
    add_to_cache(cache, "medtui-test/Cut-GGUF", {"Cut-Q4_K_M.gguf": whole})
    (cut / "blobs" / _sha256(whole)).write_bytes(whole[:1000])  # same name, bytes cut
    return cache


@pytest.fixture
def offline_hub(hub_cache, monkeypatch) -> Path:
    """HF_HUB_CACHE and HF_HUB_OFFLINE, as set before a process starts (huggingface_hub reads its
    constants at import, so they are set there too)."""
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "_unreachable", None)  # offline by choice, whatever an earlier test's probe found
    return hub_cache


def one_line(error: pytest.ExceptionInfo[MedtuiError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_the_fixture_is_a_cache_huggingface_hub_reads(hub_cache):
    found = try_to_load_from_cache(REPO, SMOL, cache_dir=hub_cache)
    assert isinstance(found, str) and Path(found).is_file()
    repos = {r.repo_id: r for r in scan_cache_dir(hub_cache).repos}
    assert {f.file_name for f in next(iter(repos[REPO].revisions)).files} >= {SMOL}
    assert not scan_cache_dir(hub_cache).warnings


def test_pull_by_quant_registers_it_and_models_list_shows_it(offline_hub):
    runner = CliRunner()
    result = runner.invoke(app, ["models", "pull", REPO, "--quant", "q4_1"])
    assert result.exit_code == 0, result.output
    assert "added smollm2-135m-instruct-q4_1" in result.output and "SHA-256 checked" in result.output
    spec = Registry().get("smollm2-135m-instruct-q4_1")
    assert spec.kind == "gguf" and Path(spec.source).name == SMOL and Path(spec.source).is_file()
    listed = runner.invoke(app, ["models", "list"])
    assert "smollm2-135m-instruct-q4_1\tGGUF " in listed.output and "[file missing]" not in listed.output


def test_a_truncated_blob_is_refused_by_its_checksum(offline_hub):
    with pytest.raises(MedtuiError) as error:
        pull("medtui-test/Cut-GGUF", quant="Q4_K_M")
    assert "Cut-Q4_K_M.gguf" in one_line(error) and "SHA-256" in str(error.value)
    assert "cut-q4_k_m" not in {s.name for s in Registry().all()}


def test_a_split_gguf_is_pulled_whole_and_registered_by_its_first_part(offline_hub):
    result = pull("medtui-test/Split-GGUF", quant="Q8_0", name="split")
    assert [p.name for p in result.files] == ["Split-Q8_0-00001-of-00002.gguf", "Split-Q8_0-00002-of-00002.gguf"]
    assert Path(Registry().get("split").source) == result.files[0]
    assert result.files[0].parent == result.files[1].parent  # llama.cpp finds the parts beside the first


def test_an_unknown_or_ambiguous_quant_lists_what_there_is(offline_hub):
    files = [RepoFile(SMOL), RepoFile("SmolLM2-135M-Instruct-Q8_0.gguf")]
    with pytest.raises(MedtuiError) as error:
        choose(group(files), REPO, quant="Q2_K")
    assert "Q4_1, Q8_0" in one_line(error)
    with pytest.raises(MedtuiError) as error:
        pull("medtui-test/Twins-GGUF", quant="q4_k_m")
    assert "a-Q4_K_M.gguf, b-Q4_K_M.gguf" in one_line(error) and "--file" in str(error.value)


def test_offline_and_not_in_the_cache_says_how_to_get_it_by_hand(offline_hub):
    with pytest.raises(MedtuiError) as error:
        pull("medtui-test/Absent-GGUF", file="Absent-Q4_K_M.gguf", name="absent")
    message = one_line(error)
    assert "https://huggingface.co/medtui-test/Absent-GGUF/resolve/main/Absent-Q4_K_M.gguf" in message
    assert "`medtui models add absent Absent-Q4_K_M.gguf`" in message
    with pytest.raises(MedtuiError) as error:  # a cached repo, a file it does not hold
        pull(REPO, file="SmolLM2-135M-Instruct-F16.gguf")
    assert f"{REPO}/resolve/main/SmolLM2-135M-Instruct-F16.gguf" in one_line(error)


def test_the_hubs_listing_gives_each_file_its_lfs_sha256():
    """The online listing, as `model_info(files_metadata=True)` returns it (the Hub's JSON, parsed
    by huggingface_hub): the Hub itself cannot be reached here."""
    info = ModelInfo(
        id="o/m-GGUF",
        sha=COMMIT,
        siblings=[
            {"rfilename": "README.md", "size": 9},
            {"rfilename": "m-Q4_K_M.gguf", "size": 10, "lfs": {"size": 10, "sha256": "a" * 64, "pointerSize": 130}},
        ],
    )
    files = repo_files(info)
    assert files == [RepoFile("README.md", 9, None), RepoFile("m-Q4_K_M.gguf", 10, "a" * 64)]
    assert choose(group(files), "o/m-GGUF").first.sha256 == "a" * 64  # the only GGUF


def test_a_split_gguf_is_chosen_whole_by_any_of_its_parts():
    files = [RepoFile(f"x/M-Q8_0-0000{i}-of-00003.gguf") for i in (3, 1, 2)] + [RepoFile("M-Q4_K_M.gguf")]
    chosen = choose(group(files), "o/M-GGUF", file="M-Q8_0-00002-of-00003.gguf")
    assert [p.path for p in chosen.parts] == [f"x/M-Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    with pytest.raises(MedtuiError) as error:
        choose(group(files[:2]), "o/M-GGUF", quant="Q8_0")
    assert "split in 3 parts but only 2" in one_line(error)


def test_a_set_cancel_token_stops_the_pull_before_anything_is_registered(offline_hub):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(PullCancelled):
        pull(REPO, quant="Q4_1", name="stopped", cancel=cancel)
    assert "stopped" not in {s.name for s in Registry().all()}


def test_the_disk_check_refuses_a_download_that_does_not_fit(tmp_path):
    with pytest.raises(MedtuiError) as error:
        check_disk(tmp_path / "not-yet", need=2_000_000_000, free=1_500_000_000)
    assert "needs 2 GB, 1.5 GB free" in one_line(error)
    check_disk(tmp_path / "not-yet", need=1_000, free=1_500_000_000)
    check_disk(tmp_path, need=1)  # measured


@pytest.mark.parametrize(
    "name, quant",
    [
        ("DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf", "Q4_K_M"),
        ("qwen2.5-1.5b-instruct_q5_k_m.gguf", "Q5_K_M"),
        ("Llama3-OpenBioLLM-8B.Q4_0.gguf", "Q4_0"),
        ("Qwen2.5-7B-Instruct-IQ4_XS.gguf", "IQ4_XS"),
        ("qwen2.5-7b-instruct-q5_k_m-00001-of-00002.gguf", "Q5_K_M"),
        ("ggml-model-f16.gguf", "F16"),
        ("Qwen2.5-1.5B-Instruct.gguf", None),
    ],
)
def test_quant_words_are_read_from_file_names(name, quant):
    assert quant_of(name) == quant


def test_every_catalogue_entry_parses_and_names_files_of_its_listing():
    entries = load_catalog()
    assert 5 <= len(entries) <= 8  # a short list
    assert any(e.hf_id == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B" for e in entries)
    assert any("medical" in e.notes for e in entries)
    for entry in entries:
        assert entry.verified.startswith("https://huggingface.co/" + entry.gguf_repo)
        listing = [RepoFile(f.file, f.size_bytes) for f in entry.files.values()]
        for quant, recorded in entry.files.items():
            assert choose(group(listing), entry.gguf_repo, quant=quant).first.path == recorded.file
            assert recorded.size_bytes is None or recorded.size_bytes > 0
        assert entry.smallest_quant() in entry.files
        assert 0.1 < entry.params_b <= 8.5 and entry.context >= 2048


def test_fit_is_yes_tight_or_no_by_the_loaders_own_estimate():
    file = {"Q4_K_M": CatalogFile("m-Q4_K_M.gguf", 10**9)}
    shape = Shape(layers=16, embedding=2048, feed_forward=8192, heads=32, heads_kv=8, vocab=32000)
    entry = CatalogEntry("m", "o/m-GGUF", "o/m", 1.0, 4096, "mit", "https://x", file, shape)
    need = estimate(model_info(entry, "Q4_K_M"), 4096).total_bytes
    assert need > 10**9  # the weights, plus a KV cache and buffers at n_ctx 4096
    assert fits(entry, "Q4_K_M", 4096, Available(4 * need, None, None)).verdict == "yes"
    assert fits(entry, "Q4_K_M", 4096, Available(int(need / 0.9), None, None)).verdict == "tight"
    small = fits(entry, "Q4_K_M", 4096, Available(need // 2, None, None))
    assert small.verdict == "no" and "RAM" in small.reason
    gpu = fits(entry, "Q4_K_M", 4096, Available(need // 2, 8 * need, None))  # offloaded, it fits in VRAM
    assert gpu.verdict == "yes" and "17 of 17 layers on the GPU" in gpu.reason


def test_models_catalog_prints_every_entry_with_a_pull_command_on_one_line(monkeypatch):
    """A table cut names and split the pull commands at 70-100 columns; the command is one line to copy."""
    monkeypatch.setenv("COLUMNS", "60")
    result = CliRunner().invoke(app, ["models", "catalog"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for entry in load_catalog():
        assert any(line.startswith(f"{entry.name}  ") for line in lines), entry.name
        quant = entry.smallest_quant()
        assert f"  pull    medtui models pull {entry.gguf_repo} --quant {quant} --name {entry.name}" in lines


class Host(App):
    """Only the switcher, as the chat opens it with ctrl+o."""

    def __init__(self) -> None:
        super().__init__()
        self.chosen: list[str | None] = []

    def on_mount(self) -> None:
        self.push_screen(ModelSwitcher(Registry().all(), "smollm2"), self.chosen.append)


async def test_the_switcher_pulls_a_catalogue_model_then_offers_it(offline_hub):
    app = Host()
    async with app.run_test(size=(140, 40)) as pilot:
        models = app.screen.query_one(OptionList)
        ids = [models.get_option_at_index(i).id for i in range(models.option_count)]
        assert ids[0] == "smollm2" and PULL + "deepseek-r1-distill-qwen-1.5b" in ids
        assert "fits:" in str(models.get_option(PULL + "deepseek-r1-distill-qwen-1.5b").prompt)
        models.focus()
        models.highlighted = ids.index(PULL + "deepseek-r1-distill-qwen-1.5b")
        await pilot.press("enter")
        status = app.screen.query_one("#pull-status", Static)
        await wait_for(pilot, lambda: "pulled and registered" in str(status.render()), timeout=60)
        assert Registry().get("deepseek-r1-distill-qwen-1.5b").source.endswith(CATALOGUED[1])
        assert models.highlighted_option.id == "deepseek-r1-distill-qwen-1.5b"  # now a registered entry
        await pilot.press("enter")
        await pilot.pause()
        assert app.chosen == ["deepseek-r1-distill-qwen-1.5b"]


@pytest.fixture
def probe_failed(hub_cache, monkeypatch):
    """The Hub unreachable with no offline mode chosen: the probe fails and `hub.check()` switches
    the process offline, as without a network; everything it switches is put back afterwards."""
    import datasets.config

    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(variable, "0")  # remembered as absent, so it is removed again at the end
        monkeypatch.delenv(variable)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False)
    monkeypatch.setattr(hub, "_unreachable", None)
    monkeypatch.setattr(hub, "_probe", lambda host, port: "Name or service not known")
    return hub_cache


def test_an_unreachable_hub_is_reported_with_the_probes_reason_and_a_hint_that_works(probe_failed):
    with pytest.raises(MedtuiError) as error:  # a cached repo, a quant it does not hold
        pull(REPO, quant="Q5_K_M")
    message = one_line(error)
    assert "(Name or service not known, and the cache holds no match" in message
    assert "offline mode is on" not in message
    assert message.endswith("(HF_HUB_OFFLINE=1 skips this 3 s network check next time)") and "--offline" not in message


def test_models_pull_takes_offline_like_the_chat_commands(offline_hub, monkeypatch):
    for variable in ("TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):  # --offline sets them: put back after
        monkeypatch.setenv(variable, "0")
    result = CliRunner().invoke(app, ["models", "pull", REPO, "--quant", "q4_1", "--offline"])
    assert result.exit_code == 0, result.output
    assert "added smollm2-135m-instruct-q4_1" in result.output


def test_the_by_hand_hint_names_the_file_and_the_name_a_pull_would_register(offline_hub):
    base = "https://huggingface.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF"
    # a catalogue repo: its files are known; its own quant takes its name, another quant adds the quant
    for quant, name in (("Q4_K_M", "qwen2.5-0.5b-instruct"), ("Q5_K_M", "qwen2.5-0.5b-instruct-q5_k_m")):
        with pytest.raises(MedtuiError) as error:
            pull("bartowski/Qwen2.5-0.5B-Instruct-GGUF", quant=quant)
        message = one_line(error)
        assert f"{base}/resolve/main/Qwen2.5-0.5B-Instruct-{quant}.gguf" in message
        assert f"`medtui models add {name} Qwen2.5-0.5B-Instruct-{quant}.gguf`" in message
        assert "HF_HUB_OFFLINE=1" not in message  # offline mode was chosen: nothing to skip
    with pytest.raises(MedtuiError) as error:  # an unknown repo: the quant is all that is known
        pull("medtui-test/Absent-GGUF", quant="q5_k_m")
    message = one_line(error)
    assert "the …-Q5_K_M.gguf file listed at https://huggingface.co/medtui-test/Absent-GGUF/tree/main" in message
    assert "`medtui models add absent-q5_k_m` followed by the file's path" in message
    assert "FILE.gguf" not in message and "NAME" not in message


def test_a_catalogue_name_or_a_hub_url_pulls_and_a_bare_word_is_refused(offline_hub):
    result = CliRunner().invoke(app, ["models", "pull", "qwen2.5-0.5b-instruct"])
    assert result.exit_code == 1
    assert "Qwen2.5-0.5B-Instruct-GGUF/resolve/main/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf" in str(result.exception)
    assert pull(f"https://huggingface.co/{REPO}/tree/main", quant="q4_1").spec.name == "smollm2-135m-instruct-q4_1"
    by_url = pull(f"https://huggingface.co/{REPO}/blob/main/{SMOL}", name="by-url")
    assert Path(by_url.spec.source).name == SMOL and not by_url.already
    with pytest.raises(MedtuiError) as error:
        pull("SmolLM2-135M-Instruct-GGUF")
    message = one_line(error)
    assert "org/repo" in message and "https://huggingface.co/org/repo" in message
    assert "`medtui models catalog`" in message


def test_a_catalogue_file_is_registered_under_its_catalogue_name_once(offline_hub):
    runner = CliRunner()
    first = runner.invoke(app, ["models", "pull", CATALOGUED[0]])
    assert first.exit_code == 0, first.output
    assert "added deepseek-r1-distill-qwen-1.5b:" in first.output
    again = runner.invoke(app, ["models", "pull", "deepseek-r1-distill-qwen-1.5b"])
    assert again.exit_code == 0, again.output
    assert "already registered as deepseek-r1-distill-qwen-1.5b: " in again.output and "added" not in again.output
    alias = runner.invoke(app, ["models", "pull", CATALOGUED[0], "--name", "r1"])
    assert alias.exit_code == 0 and "added r1:" in alias.output
    assert [s.name for s in Registry().all()] == ["smollm2", "deepseek-r1-distill-qwen-1.5b", "r1"]


def test_file_and_quant_together_or_a_file_that_is_no_gguf_are_refused(offline_hub):
    with pytest.raises(MedtuiError) as error:
        pull(REPO, file=SMOL, quant="Q8_0")
    assert "give one of them" in one_line(error)
    with pytest.raises(MedtuiError) as error:
        pull(REPO, file="foo.bin")
    assert "foo.bin is not a .gguf file" in one_line(error)
    assert [s.name for s in Registry().all()] == ["smollm2"]


def test_an_unknown_catalogue_name_says_to_pull_it(monkeypatch):
    from medtui.core import model_catalog
    from medtui.core.registry import resolve_model

    result = CliRunner().invoke(app, ["models", "info", "qwen3-1.7b"])
    assert result.exit_code == 1 and "`medtui models pull qwen3-1.7b`" in str(result.exception)
    with pytest.raises(MedtuiError) as error:
        resolve_model("qwen3-1.7b")  # `ask -m`, `train -m`
    assert "`medtui models pull qwen3-1.7b`" in one_line(error)

    imported = "import sys, medtui.core.registry; print('medtui.core.model_catalog' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", imported], capture_output=True, text=True).stdout == "False\n"

    def broken() -> None:
        raise MedtuiError("unreadable model catalogue")

    monkeypatch.setattr(model_catalog, "load_catalog", broken)
    with pytest.raises(MedtuiError) as error:
        Registry().get("qwen3-1.7b")
    assert one_line(error).startswith("unknown model 'qwen3-1.7b': see `medtui models list`")


def test_models_help_names_every_command():
    from medtui.cli import models

    result = CliRunner().invoke(models.app, ["--help"])
    assert all(word in result.output for word in ("List", "add", "pull", "remove", "catalogue", "info"))


def test_models_add_refuses_a_truncated_gguf(smollm2_gguf, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(smollm2_gguf.read_bytes()[:1_000_000])
    result = CliRunner().invoke(app, ["models", "add", "cut", str(cut)])
    assert result.exit_code == 1 and str(cut) in str(result.exception)
    assert [s.name for s in Registry().all()] == ["smollm2"]


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=["80x24", "100x30"])
async def test_a_failed_pull_says_why_inside_the_dialog_at_small_sizes(offline_hub, size):
    """Offline, picking a catalogue model not in the cache failed with a one-line reason written
    under the list, which filled the dialog: at 100x30 nothing seemed to happen."""
    app = Host()
    async with app.run_test(size=size) as pilot:
        models = app.screen.query_one(OptionList)
        ids = [models.get_option_at_index(i).id for i in range(models.option_count)]
        absent = next(i for i in ids if i.startswith(PULL) and i != PULL + "deepseek-r1-distill-qwen-1.5b")
        models.focus()
        models.highlighted = ids.index(absent)
        await pilot.press("enter")
        status = app.screen.query_one("#pull-status", Static)
        await wait_for(pilot, lambda: "cannot load" in str(status.render()), timeout=30)
        await pilot.pause(0.2)
        dialog = status.parent.region
        assert status.region.height >= 2 and dialog.contains_region(status.region), (status.region, dialog)
        box = status.content_region
        needed = status.get_content_height(box.size, app.size, box.width)
        assert needed <= box.height, (needed, box)  # whole: the by-hand command at its end too
        assert status.region.bottom <= size[1] - 1  # above the footer
        assert not app.chosen and absent[len(PULL) :] not in {s.name for s in Registry().all()}

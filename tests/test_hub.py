"""An unreachable Hub is found out once, quickly, and every Hub path then fails in one line."""

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from medtui.core import hub
from medtui.core.errors import MedtuiError

MEDTUI = Path(sys.executable).with_name("medtui")


@pytest.fixture
def closed_port():
    """A local port bound but not listening: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def fresh_hub(monkeypatch):
    """No offline mode and no cached probe; whatever `go_offline` switches is put back afterwards."""
    import datasets.config
    import huggingface_hub.constants

    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.setenv(variable, "0")  # remembered as absent, so it is removed again at the end
        monkeypatch.delenv(variable)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False)
    monkeypatch.setattr(hub, "_unreachable", None)
    hub._probe.cache_clear()
    yield monkeypatch
    hub._probe.cache_clear()


def test_closed_endpoint_switches_the_process_offline_once(fresh_hub, closed_port):
    import datasets.config
    import huggingface_hub.constants

    fresh_hub.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    assert hub.check() == "Connection refused"
    assert hub.offline() and os.environ["HF_HUB_OFFLINE"] == "1"
    assert huggingface_hub.constants.HF_HUB_OFFLINE and datasets.config.HF_HUB_OFFLINE  # imported before: switched
    fresh_hub.setattr(hub.socket, "create_connection", lambda *a, **k: pytest.fail("probed twice"))
    assert hub.check() == "Connection refused"


def test_reachable_endpoint_stays_online(fresh_hub):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        fresh_hub.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub.check() is None
    assert not hub.offline()


def test_offline_already_chosen_is_respected_without_a_probe(fresh_hub):
    fresh_hub.setenv("HF_HUB_OFFLINE", "1")
    fresh_hub.setattr(hub.socket, "create_connection", lambda *a, **k: pytest.fail("probed while offline"))
    assert hub.check() is None


def test_a_hanging_dns_lookup_is_cut_short(fresh_hub):
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(30)
        raise OSError("too late")

    fresh_hub.setattr(hub, "PROBE_S", 0.5)
    fresh_hub.setattr(hub.socket, "create_connection", hang)
    try:
        assert hub.check() == "no answer in 0.5 s"
    finally:
        release.set()


def test_hub_dataset_id_fails_in_one_line(fresh_hub, closed_port, capfd):
    from medtui.core.datasource import open_dataset

    fresh_hub.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(
        MedtuiError, match=r"cannot load dataset 'medtui-test/no-such-data' from the Hugging Face Hub: cannot reach"
    ):
        open_dataset("medtui-test/no-such-data")
    assert "Retry" not in "".join(capfd.readouterr())


def test_eval_hub_source_is_skipped_without_waiting(fresh_hub, closed_port):
    from evals import sources

    fresh_hub.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(MedtuiError, match="not reachable"):
        sources.hub("cais/mmlu", "test", sources.hub_mmlu("anatomy"), "anatomy")


@pytest.mark.timeout(180)
def test_hub_model_id_gives_one_line_and_no_retries(closed_port):
    # none of the offline variables: an earlier test in this process may have set them all
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    }
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed_port}"
    subprocess.run([MEDTUI, "models", "add", "hubm", "medtui-test/no-such-model"], env=env, check=True)
    run = subprocess.run(
        [MEDTUI, "ask", "--no-rag", "-m", "hubm", "hi"], env=env, capture_output=True, text=True, timeout=170
    )
    assert run.returncode == 1
    assert "Retry" not in run.stdout + run.stderr
    assert run.stderr.strip().splitlines() == [
        "medtui: error: cannot load medtui-test/no-such-model from the Hugging Face Hub: cannot reach "
        f"http://127.0.0.1:{closed_port} (Connection refused) and it is not in the local cache: download it on a "
        "connected machine (`hf download medtui-test/no-such-model`) or add a local folder with `medtui models add` "
        "(HF_HUB_OFFLINE=1 skips this 3 s network check next time)"
    ]

"""The installed `medtui` command, run as a user would, in a subprocess."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from medtui.core import paths
from medtui.core.history import History
from medtui.core.registry import ModelSpec, Registry

MEDTUI = [str(Path(sys.executable).with_name("medtui"))]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(MEDTUI + list(args), input=stdin, capture_output=True, env=os.environ.copy(), timeout=300)


def one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Traceback" not in err
    assert fragment in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_ask_answers_with_sources_and_records_it(default_index):
    result = run("ask", "What causes nephritis?", "--max-tokens", "24", "--temperature", "0")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    answer, sources = out.split("\nSources:\n")
    assert answer.strip()
    lines = sources.strip().splitlines()  # the top 4 that pass the relevance gate, numbered as cited
    assert 1 <= len(lines) <= 4 and [line[:3] for line in lines] == [f"[{n}]" for n in range(1, len(lines) + 1)]
    conversations = History().conversations()
    assert len(conversations) == 1 and conversations[0].title == "What causes nephritis?"


def test_ask_json_and_stdin(default_index):
    result = run("ask", "-", "--json", "--max-tokens", "16", "--top-k", "2", stdin=b"Is fever a symptom?")
    assert result.returncode == 0, result.stderr.decode()
    payload = json.loads(result.stdout)
    assert payload["question"] == "Is fever a symptom?"
    assert [s["n"] for s in payload["sources"]] == [1, 2]
    assert all(s["text"] and s["title"] for s in payload["sources"])


def test_ask_without_rag_needs_no_index():
    result = run("ask", "Define tachycardia.", "--no-rag", "--max-tokens", "8", "--index", "does-not-exist")
    assert result.returncode == 0, result.stderr.decode()
    assert "Sources:" not in result.stdout.decode()


def test_prompt_longer_than_context_trims_sources_then_errors(default_index):
    result = run(
        "ask", "What is known about wound healing in rats?", "--n-ctx", "512", "--max-tokens", "16", "--top-k", "6"
    )
    assert result.returncode == 0, result.stderr.decode()
    assert "left out to fit the 512-token context" in result.stderr.decode()
    long_question = "Explain the kidney. " * 400
    one_line_error(
        run("ask", long_question, "--n-ctx", "512", "--no-rag"), "shorten it, lower max_tokens, or raise n_ctx"
    )


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        (["ask", "   "], None, "the question is empty"),
        (["ask", "-"], b"caf\xe9 fever?", "stdin is not valid UTF-8"),
        (["ask", "What is gout?", "--model", "nope"], None, "unknown model 'nope'"),
        (["ask", "What is gout?", "--index", "missing-index"], None, "index 'missing-index' not found"),
        (["models", "add", "bad", "/no/such/model.gguf"], None, "GGUF file not found"),
        (["models", "remove", "smollm2"], None, "cannot be removed"),
    ],
)
def test_bad_input_is_one_line_exit_1(args, stdin, fragment):
    one_line_error(run(*args, stdin=stdin), fragment)


def test_non_utf8_argument_is_rejected():
    result = subprocess.run(
        [os.fsencode(MEDTUI[0]), b"ask", b"caf\xe9 fever?"], capture_output=True, env=os.environ.copy(), timeout=120
    )
    one_line_error(result, "not valid UTF-8")


def test_corrupt_model_file_is_reported_with_its_path(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(256))
    one_line_error(run("models", "add", "broken", str(bad)), str(bad))  # refused when added
    Registry().add(ModelSpec("broken", "gguf", str(bad)))  # or damaged after it was added
    one_line_error(run("ask", "What is gout?", "--model", "broken", "--no-rag"), str(bad))


def test_models_list_add_remove(smollm2_gguf, tiny_hf_model):
    assert run("models", "add", "tiny", str(tiny_hf_model)).returncode == 0
    assert run("models", "add", "hub", "HuggingFaceTB/SmolLM2-135M-Instruct").returncode == 0
    listing = run("models", "list").stdout.decode().splitlines()
    assert [line.split("\t")[0] for line in listing] == ["smollm2", "hub", "tiny"]
    assert "(built-in)" in listing[0]
    assert run("models", "remove", "hub").returncode == 0
    assert "hub" not in run("models", "list").stdout.decode()


def test_doctor_reports_packages_assets_models_indexes(default_index):
    result = run("doctor")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    for fragment in ("llama-cpp-python", "chromadb", "smollm2_gguf", "GPU", "smollm2", "default"):
        assert fragment in out
    assert "complete" in out
    assert re.search(r"^training +backend hf, quant none$", out, re.M)  # no CUDA: plain transformers, full precision
    assert "training runs  0" in out


def test_killed_mid_answer_keeps_everything_generated():
    """Piped, `ask` prints the checked answer once it is complete; a kill before then loses
    nothing: the history has kept every token as it came."""
    import signal
    import time

    process = subprocess.Popen(
        MEDTUI
        + [
            "ask",
            "Write a long essay on the history of anatomy.",
            "--no-rag",
            "--max-tokens",
            "2000",
            "--temperature",
            "0.7",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    deadline = time.time() + 120
    generated = ""
    while len(generated) < 200:
        assert process.poll() is None and time.time() < deadline, process.stderr.read().decode()
        time.sleep(0.2)
        conversations = History().conversations() if paths.history_db().exists() else []
        messages = History().messages(conversations[0].id) if conversations else []
        generated = messages[-1].content if messages and messages[-1].role == "assistant" else ""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    answer = History().messages(History().conversations()[0].id)[-1]
    assert answer.status == "streaming"  # it never finished...
    assert answer.content.startswith(generated)  # ...but nothing generated is lost
    assert process.stdout.read() == b""  # and nothing half-checked was printed


def wrapped_rows(out: str, label: str) -> list[str]:
    """The line that starts with `label` and the lines its value wrapped onto."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(label))
    rows = [lines[at]]
    for line in lines[at + 1 :]:
        if not line.startswith(" " * len(label)) or not line.strip():
            break
        rows.append(line)
    return rows


@pytest.mark.parametrize(
    ("command", "labels"),
    [(("models", "info", "smollm2"), ["memory         ", "GPU layers     "]), (("doctor",), [f"{'memory':<23}"])],
)
def test_report_values_wrap_under_their_own_column(command, labels, monkeypatch):
    """A value longer than the terminal went on at column 0, through the labels: `models info` and
    `doctor` wrap it with a hanging indent; into a pipe (no COLUMNS) each value stays one line.
    Doctor's value column is its section's longest label ("llama.cpp GPU offload") plus two."""
    whole = run(*command).stdout.decode()
    monkeypatch.setenv("COLUMNS", "60")
    result = run(*command)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert all(len(line) <= 60 for line in out.splitlines()), out
    for label in labels:
        rows = wrapped_rows(out, label)
        assert len(rows) > 1, out  # it wrapped, every further line under the value's first column
        assert all(row[len(label)] != " " for row in rows), rows
        one_line = next(line for line in whole.splitlines() if line.startswith(label))
        words = lambda text: re.sub(r"[\d.]+", "N", " ".join(text.split()))  # free memory moves between runs
        assert words(" ".join(rows)) == words(one_line), (rows, one_line)


def test_a_wrapped_value_keeps_a_number_with_its_unit_and_a_flag_with_its_value():
    """At 80 columns `doctor` wrote "KV 189" at a line's end and "MB" under it, and "F16C =" / "1"."""
    from medtui.core.formatting import hanging

    text = "AVX2 = 1 | F16C = 1 | FMA = 1 needs about 548 MB at n_ctx 8192 (weights 96.6 MB, KV 189 MB)"
    for width in range(24, 60):
        lines = [line.strip() for line in hanging("   ", text, width).splitlines()]
        assert " ".join(lines) == text, lines
        assert not any(line.endswith(("=", "189", "96.6", "548")) for line in lines), (width, lines)
        assert not any(line.startswith(("=", "MB", "1 |")) for line in lines), (width, lines)

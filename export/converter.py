"""llama.cpp's own converters, pinned to the llama.cpp that llama-cpp-python bundles.

`convert_hf_to_gguf.py`, `convert_lora_to_gguf.py`, their `conversion/` package and `gguf-py/`
come from the llama-cpp-python sdist of exactly the installed version, so the GGUF they write
is one the installed llama.cpp reads. They are extracted into a medtui-owned folder (never
committed) by `python -m export.converter fetch`, and run as a subprocess with
`PYTHONPATH=<folder>/gguf-py` so the pinned gguf-py is used rather than PyPI's `gguf`.
"""

import ast
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.files import atomic_dir

FETCH_COMMAND = f"{Path(sys.executable).name} -m export.converter fetch"
# What is taken from the sdist's vendor/llama.cpp/: the two converters and what they import.
WANTED = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")


class Cancelled(Exception):
    """The user stopped the export; nothing was registered."""


def llama_cpp_version() -> str:
    return version("llama_cpp_python")


def converter_dir() -> Path:
    """Where the converter for the installed llama-cpp-python lives ($MEDTUI_LLAMA_CPP_DIR overrides)."""
    override = os.environ.get("MEDTUI_LLAMA_CPP_DIR")
    if override:
        return Path(override)
    return Path(sys.prefix) / "share" / "medtui" / f"llama.cpp-{llama_cpp_version()}"


def find_converter() -> Path:
    """The extracted llama.cpp folder, or a one-line error saying how to fetch it."""
    folder = converter_dir()
    if not (folder / "convert_hf_to_gguf.py").is_file() or not (folder / "gguf-py" / "gguf").is_dir():
        raise MedtuiError(
            f"llama.cpp's GGUF converter for llama-cpp-python {llama_cpp_version()} is not in {folder}: "
            f"run `{FETCH_COMMAND}` (needs PyPI once)"
        )
    return folder


def fetch(dest: Path | None = None) -> Path:
    """Download the llama-cpp-python sdist of the installed version and extract only the converter."""
    dest = dest or converter_dir()
    ver = llama_cpp_version()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={ver}",
                "-d",
                tmp,
            ],
            check=True,
        )
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"), None) or next(Path(tmp).glob("*.tar.gz"))
        with tarfile.open(sdist) as tar, atomic_dir(dest) as partial:
            members = []
            for m in tar.getmembers():
                _, _, inside = m.name.partition("/vendor/llama.cpp/")
                if inside and inside.startswith(WANTED) and (m.isfile() or m.isdir()):
                    m.name = inside
                    members.append(m)
            tar.extractall(partial, members=members, filter="data")
    return dest


def supported_architectures(folder: Path) -> set[str]:
    """Hugging Face architectures the converter knows, read from its source without importing it."""
    names: set[str] = set()
    package = folder / "conversion" / "__init__.py"
    if package.is_file():
        for node in ast.walk(ast.parse(package.read_text(encoding="utf-8"))):
            if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
                names |= {k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    for source in [folder / "convert_hf_to_gguf.py", *sorted((folder / "conversion").glob("*.py"))]:
        if source.is_file():  # older layouts register classes with a decorator
            for call in re.findall(r"register\(([^)]*)\)", source.read_text(encoding="utf-8")):
                names |= set(re.findall(r"\"(\w+)\"", call))
    return names


def run_converter(
    script: str,
    args: list[str],
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Run one of llama.cpp's converter scripts, streaming its log lines; kill it when cancelled."""
    folder = find_converter()
    env = {**os.environ, "PYTHONPATH": str(folder / "gguf-py"), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    proc = subprocess.Popen(
        [sys.executable, str(folder / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=folder,
    )
    stop = threading.Event()

    def watch() -> None:  # readline blocks, so cancelling is watched from beside it
        while not stop.wait(0.1):
            if cancel is not None and cancel.is_set():
                proc.kill()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    tail: list[str] = []
    try:
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-20:]
            if on_line is not None:
                on_line(line)
        code = proc.wait()
    finally:
        stop.set()
        watcher.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{script} stopped")
    if code != 0:
        reason = next(
            (t for t in reversed(tail) if "error" in t.lower() or "is not supported" in t), tail[-1] if tail else ""
        )
        raise MedtuiError(f"llama.cpp's {script} failed (exit {code}): {reason}")


def main(argv: list[str]) -> None:
    if argv[:1] != ["fetch"]:
        raise SystemExit(f"usage: {FETCH_COMMAND}")
    folder = converter_dir()
    if not (folder / "convert_hf_to_gguf.py").is_file():  # already fetched: nothing to download
        folder = fetch()
    print(f"llama.cpp converter for llama-cpp-python {llama_cpp_version()} in {folder}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The tree keeps its shape: layers run one way (import-linter) and the code stays ruff-clean."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("medtui", "trainers", "evals", "export")


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([tool("lint-imports")], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_layers_hold():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        ("medtui/core/errors.py", "import medtui.tui.app", "medtui.core.errors -> medtui.tui.app"),
        ("evals/stats.py", "import trainers.runs", "evals.stats -> trainers.runs"),
        ("medtui/chat/export.py", "import evals.tasks", "medtui.chat.export -> evals.tasks"),
        ("trainers/config.py", "import textual.app", "trainers.config -> textual"),
    ],
)
def test_a_wrong_import_breaks_the_contract(tmp_path, module, bad_import, broken):
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.tcss"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{bad_import}  # noqa\n", encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode == 1 and broken in result.stdout, result.stdout + result.stderr


def test_ruff_lint_and_format_are_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([tool("ruff"), *args], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}"

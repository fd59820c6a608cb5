"""``make install`` is ``uv sync --frozen``: it installs uv.lock as it is, never re-resolving. So a
pyproject.toml edited without ``uv lock`` would install something else than it says; this fails then."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")  # the dev extra pins uv into the venv
    found = str(beside) if beside.exists() else shutil.which("uv")
    assert found, "uv is not installed (it is in the dev extra: `make install`)"
    return found


def _lock_check(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_uv(), "lock", "--check", "--offline", "--project", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_uv_lock_matches_pyproject() -> None:
    proc = _lock_check(REPO_ROOT)
    assert proc.returncode == 0, f"uv.lock is out of date with pyproject.toml; run `uv lock`:\n{proc.stderr}"


def test_lock_check_fails_when_pyproject_gains_a_dependency(tmp_path: Path) -> None:
    """The check is not vacuous: the same lock beside a pyproject with one more requirement fails."""
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert '"click>=8.1,<9",' in pyproject
    (tmp_path / "pyproject.toml").write_text(
        pyproject.replace('"click>=8.1,<9",', '"click>=8.1,<9",\n    "tomli-w>=1",')
    )
    shutil.copyfile(REPO_ROOT / "uv.lock", tmp_path / "uv.lock")
    proc = _lock_check(tmp_path)
    assert proc.returncode != 0
    assert "tomli-w" in (proc.stderr + proc.stdout).lower() or "update" in (proc.stderr + proc.stdout).lower()

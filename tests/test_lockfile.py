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
    """The check is not vacuous: the same lock beside a pyproject with one more requirement fails,
    while beside an unchanged copy it passes (so the failure is the added requirement's).

    Offline, uv cannot re-resolve on a machine whose cache lacks the registry's metadata, so what
    it prints differs between machines ("needs to be updated", or "no solution ... network was
    disabled"); only the outcome of the control pair is asserted."""
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert '"click>=8.1,<9",' in pyproject
    unchanged, gained = tmp_path / "unchanged", tmp_path / "gained"
    for project, text in (
        (unchanged, pyproject),
        (gained, pyproject.replace('"click>=8.1,<9",', '"click>=8.1,<9",\n    "tomli-w>=1",')),
    ):
        project.mkdir()
        (project / "pyproject.toml").write_text(text)
        shutil.copyfile(REPO_ROOT / "uv.lock", project / "uv.lock")
    control = _lock_check(unchanged)
    assert control.returncode == 0, control.stderr
    proc = _lock_check(gained)
    assert proc.returncode != 0, proc.stderr

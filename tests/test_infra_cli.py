"""``flywheel infra up | status | down`` as a user runs them, against a real broker."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.infra.kafka_broker import free_port

FLYWHEEL = str(Path(sys.executable).with_name("flywheel"))


def _bin_dir_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only the named tools (to prove what a command does not need)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        found = shutil.which(tool)
        assert found, f"{tool} must be installed for this test"
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([FLYWHEEL, *args], capture_output=True, text=True, env=env, timeout=180)


def test_up_status_down_without_downloading_again(tmp_path: Path, kafka_bootstrap: str) -> None:
    # The session broker already resolved the jars; with mvn off the PATH a download is impossible.
    port = free_port()
    env = {
        **os.environ,
        "FLYWHEEL_HOME": str(tmp_path / "home"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "FLYWHEEL_KAFKA_HEAP": "256m",
        "PATH": _bin_dir_with(tmp_path, "java"),
    }
    env.pop("JAVA_HOME", None)
    up = _run(["infra", "up"], env)
    try:
        assert up.returncode == 0, up.stderr
        assert "resolving" not in up.stdout
        assert f"up at 127.0.0.1:{port}" in up.stdout
        pid = int((tmp_path / "home" / "kafka" / "broker.pid").read_text())

        status = _run(["infra", "status"], env)
        assert status.returncode == 0
        kafka_line = next(line for line in status.stdout.splitlines() if " kafka " in line)
        assert kafka_line.startswith("up") and f"pid {pid}" in kafka_line

        again = _run(["infra", "up"], env)
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        down = _run(["infra", "down"], env)
    assert down.returncode == 0 and f"stopped (pid {pid})" in down.stdout
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    status = _run(["infra", "status"], env)
    assert next(line for line in status.stdout.splitlines() if " kafka " in line).startswith("down")
    assert "not running" in _run(["infra", "down"], env).stdout


def test_port_taken_by_something_else_is_refused(tmp_path: Path, kafka_bootstrap: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {
            **os.environ,
            "FLYWHEEL_HOME": str(tmp_path / "h"),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        }
        result = _run(["infra", "up"], env)
    assert result.returncode == 1
    assert "already taken by another process" in result.stderr


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "FLYWHEEL_HOME": str(tmp_path / "h"), "PATH": _bin_dir_with(tmp_path),
           "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}  # fmt: skip
    env.pop("JAVA_HOME", None)
    result = _run(["infra", "up"], env)
    assert result.returncode == 1
    assert "Java 17+ is required" in result.stderr


@pytest.mark.parametrize("repo", ["http://127.0.0.1:{port}/maven2"])
def test_unreachable_maven_repository_is_a_clear_error(tmp_path: Path, repo: str) -> None:
    env = {
        **os.environ,
        "FLYWHEEL_HOME": str(tmp_path / "h"),
        "FLYWHEEL_CACHE": str(tmp_path / "empty-cache"),
        "FLYWHEEL_MAVEN_REPO": repo.format(port=free_port()),
        "FLYWHEEL_MAVEN_LOCAL_REPO": str(tmp_path / "m2"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
    }
    result = _run(["infra", "up"], env)
    assert result.returncode == 1
    assert "could not resolve Apache Kafka" in result.stderr
    assert "Maven Central reachable" in result.stderr
    assert not (tmp_path / "empty-cache" / "kafka-4.1.2" / ".complete").exists()

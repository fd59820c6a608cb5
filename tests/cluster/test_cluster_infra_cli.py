"""``flywheel infra up --brokers 3 --postgres --spark-workers 2`` / ``status`` / ``down`` as a user runs
them: every engine starts from the project's own code, prints where it is, and stops again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from orchestration.infra.kafka_broker import free_port_block

pytestmark = pytest.mark.cluster

FLYWHEEL = [sys.executable, "-m", "orchestration.cli"]
REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FLYWHEEL, *args], capture_output=True, text=True, env=env, timeout=400, cwd=REPO_ROOT
    )


def test_up_status_down_of_every_engine() -> None:
    home = Path(tempfile.mkdtemp(prefix="flywheel-cli-"))
    home.chmod(0o711)  # as root, Postgres runs as `postgres`, who must reach FLYWHEEL_HOME/postgres
    env = {
        **os.environ,
        "FLYWHEEL_HOME": str(home),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port_block(6)}",
        "FLYWHEEL_KAFKA_HEAP": "256m",
        "PYTHONPATH": str(REPO_ROOT),
    }
    for name in ("FLYWHEEL_POSTGRES_PORT", "SPARK_MASTER", "FLYWHEEL_DATABASE_URL", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    up = _run(["infra", "up", "--brokers", "3", "--postgres", "--spark-workers", "2"], env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        exports = dict(re.findall(r"export (\w+)=(\S+)", up.stdout))
        assert len(exports["KAFKA_BOOTSTRAP_SERVERS"].split(",")) == 3
        assert exports["FLYWHEEL_DAGSTER_DATABASE_URL"].startswith("postgresql+psycopg2://")
        assert exports["MLFLOW_TRACKING_URI"].endswith("/mlflow")
        assert exports["SPARK_MASTER"].startswith("spark://127.0.0.1:")

        status = _run(["infra", "status"], {**env, **exports})
        lines = {line.split()[1]: line for line in status.stdout.splitlines()[1:] if line.strip()}
        assert "3 of 3 brokers answer" in lines["kafka"] and lines["kafka"].startswith("up")
        for name in ("postgres", "spark", "mlflow", "database"):
            assert lines[name].startswith("up"), lines[name]
    finally:
        down = _run(["infra", "down"], env)
    assert down.returncode == 0, down.stderr
    assert "Kafka cluster stopped (3 of 3" in down.stdout
    assert "Spark standalone stopped (3 processes)" in down.stdout and "Postgres stopped" in down.stdout
    status = _run(["infra", "status"], {**env, **exports})
    assert all(
        line.startswith("down")
        for line in status.stdout.splitlines()
        if " kafka " in line or " postgres " in line
    )

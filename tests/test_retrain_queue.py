"""Acceptance: two retraining runs of one use case requested together are queued one after the
other, never concurrently.

Real Dagster processes on a temporary instance that uses the shipped ``dagster.yaml``: a code
server for a test-only location (``tests/fixtures/queue_location.py``: jobs tagged exactly like
Flywheel's, whose op holds a few seconds), runs submitted with ``dagster job launch`` while no
daemon runs yet (so they are all queued together), then ``dagster-daemon run`` dequeues them under
the instance's limits. Two scoring runs of the same use case and a retrain of another use case run
alongside, so the test shows a per-use-case training limit, not a global serialisation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._cli.job import job_launch_command

from orchestration.infra.kafka_broker import free_port, port_answers
from orchestration.run_tags import SCORE_TAG, TRAIN_TAG
from orchestration.serve import group_members
from orchestration.settings import export_defaults, home_environment

BIN = Path(sys.executable).parent
LOCATION_FILE = Path(__file__).parent / "fixtures" / "queue_location.py"
HOLD_SECONDS = 6
JOBS = ["disaster_retrain", "disaster_retrain", "tweets_retrain", "disaster_score", "disaster_score"]


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group this test created, SIGKILL whatever is left after 20 s."""
    with_members = group_members(proc.pid)
    if proc.poll() is None or with_members:
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (proc.poll() is None or group_members(proc.pid)):
        time.sleep(0.2)
    if group_members(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _overlap(a, b) -> bool:
    return a.start_time < b.end_time and b.start_time < a.end_time


@pytest.fixture
def queue_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FLYWHEEL_HOME whose DAGSTER_HOME holds the shipped dagster.yaml; returns DAGSTER_HOME."""
    for name, value in home_environment(tmp_path / "flywheel").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FLYWHEEL_SCORING_CONCURRENCY", raising=False)
    monkeypatch.setenv("QUEUE_TEST_HOLD_SECONDS", str(HOLD_SECONDS))
    settings = export_defaults()
    assert settings.scoring_concurrency == 2
    return settings.dagster_home


def test_two_retrains_of_one_use_case_never_run_concurrently(queue_instance: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    log = tmp_path / "dagster.log"
    port = free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n"
        "      location_name: queue_test\n"
    )
    code_server = _start(
        [str(BIN / "dagster"), "code-server", "start", "-f", str(LOCATION_FILE), "-h", "127.0.0.1",
         "-p", str(port), "--location-name", "queue_test"],
        env, log,
    )  # fmt: skip
    daemon = None
    try:
        deadline = time.monotonic() + 60
        while not port_answers("127.0.0.1", port):
            assert code_server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)

        # Requested together: every run is queued before a daemon exists to dequeue any of them.
        # (`dagster job launch -w <workspace> -j <job>`, invoked in this process: no startup cost.)
        for job in JOBS:
            result = CliRunner().invoke(job_launch_command, ["-w", str(workspace), "-j", job])
            assert result.exit_code == 0, (result.output, result.exception)

        with DagsterInstance.from_config(str(queue_instance)) as instance:
            queued = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.QUEUED]))
            assert sorted(r.dagster_run.job_name for r in queued) == sorted(JOBS)

            daemon = _start([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, log)
            deadline = time.monotonic() + 120
            while True:
                records = instance.get_run_records(RunsFilter(job_name=None))
                if len(records) >= len(JOBS) and all(r.dagster_run.is_finished for r in records):
                    break
                assert daemon.poll() is None, log.read_text()[-4000:]
                assert time.monotonic() < deadline, [
                    (r.dagster_run.job_name, r.dagster_run.status) for r in records
                ]
                time.sleep(0.5)

        assert len(records) == len(JOBS), "no run failed, so none was retried"
        for record in records:
            assert record.dagster_run.status == DagsterRunStatus.SUCCESS, record.dagster_run.job_name
            assert record.start_time and record.end_time
            assert record.end_time - record.start_time >= HOLD_SECONDS

        def runs(job: str) -> list:
            return sorted((r for r in records if r.dagster_run.job_name == job), key=lambda r: r.start_time)

        first, second = runs("disaster_retrain")
        assert first.dagster_run.tags[TRAIN_TAG] == second.dagster_run.tags[TRAIN_TAG] == "disaster"
        # One after the other: the second started only once the first had finished.
        assert not _overlap(first, second)
        assert second.start_time >= first.end_time

        # The limit is per use case: the tweets retrain ran while a disaster retrain did.
        (tweets,) = runs("tweets_retrain")
        assert tweets.dagster_run.tags[TRAIN_TAG] == "tweets"
        assert _overlap(tweets, first) or _overlap(tweets, second)

        # And it is not a global serialisation: two scoring runs of one use case ran together.
        score_a, score_b = runs("disaster_score")
        assert score_a.dagster_run.tags[SCORE_TAG] == "disaster"
        assert _overlap(score_a, score_b)
    finally:
        if daemon is not None:
            _stop(daemon)
        _stop(code_server)


def test_gravityspy_ingest_queues_like_training() -> None:
    """Issue 22 (7): ingest runs of gravityspy had no limit, yet they share a staging mirror and the
    decoded slots. They carry the training tag, which the instance limits to one run per use case."""
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    ingest_job, train_job = (
        defs.resolve_job_def("gravityspy_ingest"),
        defs.resolve_job_def("gravityspy_train"),
    )
    assert ingest_job.tags[TRAIN_TAG] == "gravityspy" == train_job.tags[TRAIN_TAG]

"""``flywheel serve`` as a user runs it: a real code server, webserver and daemon on free ports, the
session's Kafka broker (so serve must not start its own), sensors on, and a clean stop on SIGTERM
and on SIGINT that leaves none of its processes behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from orchestration.infra.kafka_broker import free_port
from orchestration.serve import group_members
from orchestration.settings import Settings

FLYWHEEL = str(Path(sys.executable).with_name("flywheel"))

STATUS_QUERY = """
query {
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
  sensorOrError(sensorSelector: {repositoryLocationName: "flywheel", repositoryName: "__repository__",
                                 sensorName: "disaster_kafka_sensor"}) {
    __typename
    ... on Sensor { sensorState { status ticks(limit: 5) { status } } }
    ... on PythonError { message }
  }
}
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (
            f"serve exited ({proc.returncode}) while waiting for {what}:\n{log.read_text()}"
        )
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")


def _status(ui: str) -> dict | None:
    try:
        response = requests.post(f"{ui}/graphql", json={"query": STATUS_QUERY}, timeout=10)
        return response.json()["data"]
    except (requests.RequestException, KeyError, ValueError):
        return None


def _ready(ui: str, ticking: bool) -> dict | None:
    """The status once every required daemon is healthy (and, if ``ticking``, the sensor ticked)."""
    data = _status(ui)
    if not data:
        return None
    daemons = data["instance"]["daemonHealth"]["allDaemonStatuses"]
    sensor = data["sensorOrError"]
    if not all(d["healthy"] for d in daemons if d["required"]) or sensor["__typename"] != "Sensor":
        return None
    # A tick still in progress (STARTED) says nothing yet: wait for one that finished.
    if ticking and not any(t["status"] != "STARTED" for t in sensor["sensorState"]["ticks"]):
        return None
    return data


@pytest.mark.parametrize(
    ("sensors", "stop_signal"),
    [("on", signal.SIGTERM), ("off", signal.SIGINT)],
    ids=["sensors-on-sigterm", "sensors-off-sigint"],
)
def test_serve_runs_the_loop_and_stops_everything_it_started(
    kafka_env: Settings, tmp_path: Path, sensors: str, stop_signal: signal.Signals
) -> None:
    port = free_port()
    ui = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    pid_file = kafka_env.home / "serve" / "pids.json"
    env = {**os.environ, "FLYWHEEL_SENSOR_INTERVAL_SECONDS": "2"}
    env.pop("FLYWHEEL_SENSORS", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [FLYWHEEL, "serve", "--sensors", sensors, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    recorded: dict = {}
    try:
        recorded = _wait(
            lambda: pid_file.exists() and json.loads(pid_file.read_text()), 120, "pids.json", proc, log
        )
        children = recorded["children"]
        assert set(children) == {"code-server", "webserver", "daemon"}
        assert recorded["serve"] == proc.pid

        _wait(lambda: _get_ok(f"{ui}/server_info"), 60, "the webserver's /server_info", proc, log)
        on = sensors == "on"
        status = _wait(lambda: _ready(ui, ticking=on), 60, "healthy daemons (and a tick)", proc, log)
        sensor = status["sensorOrError"]["sensorState"]
        if on:  # running by default: nothing was switched on in the UI
            assert sensor["status"] == "RUNNING"
            # The daemon ticked it through the code server, against the session's broker.
            finished = [t["status"] for t in sensor["ticks"] if t["status"] != "STARTED"]
            assert finished and all(t in ("SKIPPED", "SUCCESS") for t in finished), sensor["ticks"]
        else:
            assert sensor["status"] == "STOPPED" and not sensor["ticks"]
        daemons = {d["daemonType"] for d in status["instance"]["daemonHealth"]["allDaemonStatuses"]}
        assert {"SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING", "EVENT_LOG_CONSUMER"} <= daemons

        # The session's broker answered: serve used it and started none of its own.
        output = log.read_text()
        assert f"Kafka: using the broker answering at {kafka_env.kafka_bootstrap_servers}" in output
        assert recorded["kafka_broker"] is None
        assert not (kafka_env.home / "kafka" / "broker.pid").exists()
        _wait(lambda: f"Dagster UI: {ui}" in log.read_text(), 10, "serve to print the UI's URL", proc, log)
        # The shipped instance: the run queue the daemon dequeues from.
        assert "QueuedRunCoordinator" in (kafka_env.dagster_home / "dagster.yaml").read_text()

        # Every process serve started, including the code server's own child server.
        started = {pid for leader in children.values() for pid in group_members(leader)}
        assert set(children.values()) <= started and len(started) > len(children)

        t0 = time.monotonic()
        proc.send_signal(stop_signal)
        code = proc.wait(timeout=60)
        took = time.monotonic() - t0
        assert code == 0, log.read_text()[-3000:]
        assert took < 45, f"stopping took {took:.0f}s"
        left = [pid for pid in started if _alive(pid)]
        assert not left, f"still running after serve exited: {left}"
        assert not any(group_members(leader) for leader in children.values())
        assert not pid_file.exists()
        assert f"{signal.Signals(stop_signal).name} received" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for leader in (recorded.get("children") or {}).values():
            if group_members(leader):
                os.killpg(leader, signal.SIGKILL)


def _get_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_child_that_dies_stops_the_rest_with_an_error(kafka_env: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    pid_file = kafka_env.home / "serve" / "pids.json"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [FLYWHEEL, "serve", "--port", str(free_port())],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    children: dict[str, int] = {}
    try:
        children = _wait(
            lambda: pid_file.exists() and json.loads(pid_file.read_text())["children"], 120, "pids", proc, log
        )
        started = {pid for leader in children.values() for pid in group_members(leader)}
        os.kill(children["daemon"], signal.SIGKILL)
        code = proc.wait(timeout=60)
        assert code == 1
        assert f"daemon (pid {children['daemon']}) exited unexpectedly" in log.read_text()
        assert not [pid for pid in started if _alive(pid)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for leader in children.values():
            if group_members(leader):
                os.killpg(leader, signal.SIGKILL)

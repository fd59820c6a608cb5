"""The ``dagster.yaml`` Flywheel ships: written when missing, loaded by Dagster as intended, and a
user's own file never touched."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator

from orchestration.instance import LEGACY_TELEMETRY_ONLY, ensure_instance_yaml, instance_yaml
from orchestration.run_tags import SCORE_TAG, TRAIN_TAG
from orchestration.settings import Settings, export_defaults, get_settings, home_environment


@pytest.fixture
def bare_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every Flywheel store under a fresh folder, nothing created yet; returns DAGSTER_HOME."""
    home = tmp_path / "flywheel"
    for name, value in home_environment(home).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FLYWHEEL_SCORING_CONCURRENCY", raising=False)
    return home / "dagster"


def _limits(instance: DagsterInstance) -> dict[str, tuple[object, int]]:
    queue = instance.run_coordinator.get_run_queue_config()
    return {limit["key"]: (limit.get("value"), limit["limit"]) for limit in queue.tag_concurrency_limits}


def test_written_when_missing_with_the_limits_from_settings(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_SCORING_CONCURRENCY", "3")
    assert not (bare_env / "dagster.yaml").exists()

    export_defaults()

    text = (bare_env / "dagster.yaml").read_text()
    assert "telemetry:\n  enabled: false" in text
    with DagsterInstance.from_config(str(bare_env)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert _limits(instance) == {
            SCORE_TAG: ({"applyLimitPerUniqueValue": True}, 3),
            TRAIN_TAG: ({"applyLimitPerUniqueValue": True}, 1),
        }
        assert coordinator.get_run_queue_config().max_concurrent_runs == 4
        assert coordinator.dequeue_interval_seconds == 1
        assert coordinator.dequeue_use_threads and coordinator.dequeue_num_workers == 4

        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 2
        assert instance.run_retries_retry_on_asset_or_op_failure

        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_cancel_timeout_seconds == 120
        assert instance.run_monitoring_poll_interval_seconds == 30
        assert instance.run_monitoring_max_runtime_seconds == 6 * 3600
        assert instance.run_monitoring_max_resume_run_attempts == 0

        assert instance.get_settings("sensors")["use_threads"] is True
        assert instance.get_settings("sensors")["num_workers"] >= 2
        assert instance.get_settings("schedules")["use_threads"] is True
        assert not instance.get_settings("telemetry")["enabled"]
        # The daemon must run the queue, the monitor and the retry consumer for all of the above.
        assert {"QUEUED_RUN_COORDINATOR", "MONITORING", "EVENT_LOG_CONSUMER", "SENSOR"} <= set(
            instance.get_required_daemon_types()
        )


def test_a_users_own_file_is_left_alone(bare_env: Path) -> None:
    bare_env.mkdir(parents=True)
    mine = (
        "# my instance\n"
        "run_coordinator:\n"
        "  module: dagster._core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n"
        "telemetry:\n"
        "  enabled: true\n"
    )
    (bare_env / "dagster.yaml").write_text(mine)

    export_defaults()
    assert ensure_instance_yaml(bare_env, get_settings()) is False

    assert (bare_env / "dagster.yaml").read_text() == mine
    with DagsterInstance.from_config(str(bare_env)) as instance:
        assert not isinstance(instance.run_coordinator, QueuedRunCoordinator)


def test_flywheels_own_file_follows_the_settings_until_edited(bare_env: Path) -> None:
    settings: Settings = get_settings()
    path = bare_env / "dagster.yaml"
    bare_env.mkdir(parents=True)

    # What export_defaults wrote before it shipped a run queue is upgraded.
    path.write_text(LEGACY_TELEMETRY_ONLY)
    assert ensure_instance_yaml(bare_env, settings) is True
    assert path.read_text() == instance_yaml(settings)
    assert ensure_instance_yaml(bare_env, settings) is False  # nothing to do the second time

    # Unedited: a new FLYWHEEL_SCORING_CONCURRENCY reaches the file.
    four = dataclasses.replace(settings, scoring_concurrency=4)
    assert ensure_instance_yaml(bare_env, four) is True
    with DagsterInstance.from_config(str(bare_env)) as instance:
        assert _limits(instance)[SCORE_TAG] == ({"applyLimitPerUniqueValue": True}, 4)

    # Edited: the file is the user's now.
    edited = path.read_text().replace("max_concurrent_runs: 4", "max_concurrent_runs: 8")
    path.write_text(edited)
    assert ensure_instance_yaml(bare_env, settings) is False
    assert path.read_text() == edited

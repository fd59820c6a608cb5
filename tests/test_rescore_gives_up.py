"""The rescore sensor never loops on a partition that always fails (issue 22, item 1): after
``FLYWHEEL_RESCORE_MAX_ATTEMPTS`` failed rescore runs it stops asking and says why."""

from __future__ import annotations

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DynamicPartitionsDefinition,
    Failure,
    build_sensor_context,
    job,
    op,
)

from sensors.rescore import build_rescore_sensor

PARTITIONS = DynamicPartitionsDefinition(name="poison_batches")


@op
def always_fails() -> None:
    raise Failure("a record the model cannot score")


@job
def poison_score() -> None:
    always_fails()


def _fail(instance: DagsterInstance, key: str, trigger: str) -> None:
    result = poison_score.execute_in_process(
        instance=instance, raise_on_error=False, tags={"dagster/partition": key, "flywheel/trigger": trigger}
    )
    assert not result.success


def test_the_sensor_stops_after_three_failed_rescores_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_RESCORE_MAX_ATTEMPTS", "3")
    sensor = build_rescore_sensor(
        "poison", "poison_score", PARTITIONS, AssetKey("poison_scored_batch"), grace_seconds=0
    )
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(PARTITIONS.name, ["p0=0-10"])
        _fail(instance, "p0=0-10", "kafka")  # the first run, its own failure
        asks = []
        for _attempt in range(5):
            result = sensor(build_sensor_context(instance=instance))
            asks.append(len(result.run_requests or []))
            if result.run_requests:
                _fail(instance, "p0=0-10", "rescore")  # the rescore run fails again
        assert asks == [1, 1, 1, 0, 0]  # three rescores, then no more
        assert "gave up on 1 partition(s) after 3 failed rescore runs" in result.skip_reason.skip_message
        assert "p0=0-10" in result.skip_reason.skip_message

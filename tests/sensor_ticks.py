"""Evaluating a sensor as the daemon would: one tick, with its dynamic-partition requests applied."""

from __future__ import annotations

from typing import Any

from dagster import DagsterInstance, build_sensor_context


def tick(sensor: Any, instance: DagsterInstance, cursor: str | None, resources: dict[str, Any]) -> Any:
    """Run one tick of ``sensor`` and add the partitions it asks for, as the daemon does before runs."""
    result = sensor(build_sensor_context(instance=instance, cursor=cursor, resources=resources))
    for request in getattr(result, "dynamic_partitions_requests", None) or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result

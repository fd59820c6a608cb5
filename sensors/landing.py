"""Landing sensor: new or changed objects under ``<landing>/<use_case>/`` → one run per object.

Each landed object is a dynamic partition (partition key = object key). The cursor is the latest
last-modified time seen plus the keys seen at exactly that time (not ``since_key``: S3 lists in
key order, so a new file that sorts before old ones would be missed), so the cursor stays small
however many files land. A replaced object gets a newer last-modified time and is ingested again,
into the same partition; an unchanged object is never requested twice, and the run key
(key@version) makes a retried tick harmless.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from resources.object_store import ObjectInfo, ObjectStoreResource
from sensors.status import default_sensor_status


@dataclass(frozen=True)
class LandingCursor:
    last_modified: float = 0.0  # epoch seconds
    keys_at_last_modified: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> "LandingCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(float(data["last_modified"]), tuple(data["keys"]))

    def dump(self) -> str:
        return json.dumps({"last_modified": self.last_modified, "keys": sorted(self.keys_at_last_modified)})


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def plan_new_objects(
    objects: list[ObjectInfo], cursor: LandingCursor
) -> tuple[list[ObjectInfo], LandingCursor]:
    """Objects newer than the cursor (or at its time but unseen), oldest first, and the next cursor."""
    fresh = [
        o
        for o in objects
        if _ts(o.last_modified) > cursor.last_modified
        or (_ts(o.last_modified) == cursor.last_modified and o.key not in cursor.keys_at_last_modified)
    ]
    fresh.sort(key=lambda o: (_ts(o.last_modified), o.key))
    if not fresh:
        return [], cursor
    newest = _ts(fresh[-1].last_modified)
    keys = {o.key for o in fresh if _ts(o.last_modified) == newest}
    if newest == cursor.last_modified:
        keys |= set(cursor.keys_at_last_modified)
    return fresh, LandingCursor(newest, tuple(sorted(keys)))


def build_landing_sensor(
    use_case: str,
    job_name: str,
    partitions_def: DynamicPartitionsDefinition,
    accept: Callable[[ObjectInfo], bool] = lambda _o: True,
    minimum_interval_seconds: int = 30,
    default_status: DefaultSensorStatus | None = None,
) -> SensorDefinition:
    """A sensor that adds each new landing object as a partition and requests one run for it."""

    @sensor(
        name=f"{use_case}_landing_sensor",
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_sensor_status(default_status),
        description=f"New or changed files under <landing>/{use_case}/ → one ingest run per file.",
    )
    def _sensor(context: SensorEvaluationContext, object_store: ObjectStoreResource):
        cursor = LandingCursor.parse(context.cursor)
        objects = [o for o in object_store.list(f"{use_case}/") if accept(o)]
        fresh, next_cursor = plan_new_objects(objects, cursor)
        if not fresh:
            return SkipReason(f"no new files under {object_store.uri(use_case)}/")
        known = set(context.instance.get_dynamic_partitions(partitions_def.name))
        new_keys = [o.key for o in fresh if o.key not in known]
        return SensorResult(
            run_requests=[
                RunRequest(
                    partition_key=o.key, run_key=f"{o.key}@{o.version}", tags={"flywheel/object": o.key}
                )
                for o in fresh
            ],
            dynamic_partitions_requests=[partitions_def.build_add_request(new_keys)] if new_keys else [],
            cursor=next_cursor.dump(),
        )

    return _sensor


def register_landing_partitions(
    instance: DagsterInstance,
    object_store: ObjectStoreResource,
    use_case: str,
    partitions_def: DynamicPartitionsDefinition,
    accept: Callable[[ObjectInfo], bool] = lambda _o: True,
) -> list[str]:
    """Add every landed object not yet known as a partition (for ``flywheel materialize``'s
    ``discover`` hook); returns the keys added. Runs then go to the partitions not yet materialized.
    """
    known = set(instance.get_dynamic_partitions(partitions_def.name))
    new_keys = [o.key for o in object_store.list(f"{use_case}/") if accept(o) and o.key not in known]
    if new_keys:
        instance.add_dynamic_partitions(partitions_def.name, new_keys)
    return new_keys

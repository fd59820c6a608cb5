"""Landing sensor: new or changed objects under ``<landing>/<use_case>/`` → one run per object.

Each landed object is a dynamic partition (partition key = object key). A file's last-modified time
says little about when it landed: ``mv``, ``cp -p`` and ``rsync -t`` keep the source's time, and S3
stamps a multipart upload with the time it *started*. So the cursor is not a high-water mark but the
set of ``key@version`` seen (see :class:`LandingCursor`): an object is requested when its key@version
is not in it, whatever its time; an unchanged object never is. To keep the cursor small it only holds
the objects whose last-modified time is within ``lookback`` of the newest one seen (and at most
``max_seen`` of them). Below that floor an object is requested only if its key is not a partition yet:
a new file with an old date is still ingested; what is missed is an *already known* file replaced by
content dated older than the floor (a week by default), which no timestamp can tell apart.

Every run request carries the object key (``flywheel/object``) and the version the sensor saw
(``flywheel/object_version``: S3 version id, else ETag and size; locally size and mtime in ns), so the
run can check it reads that version. The run key is ``key@version`` plus the cursor's tick number, so
a retried tick (same cursor) is harmless while a file deleted and landed again is a new run.
"""

import hashlib
import json
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from resources.object_store import ObjectInfo, ObjectStoreResource
from sensors.status import default_sensor_status

#: Tags every landing run carries.
OBJECT_TAG = "flywheel/object"
OBJECT_VERSION_TAG = "flywheel/object_version"
#: How far below the newest last-modified time seen objects are still remembered by version.
DEFAULT_LOOKBACK_SECONDS = 7 * 86_400.0
#: At most this many key@version entries in the cursor (Dagster stores it with every tick).
DEFAULT_MAX_SEEN = 10_000


@dataclass(frozen=True)
class LandingCursor:
    """What the sensor has seen: ``seen`` maps a key to (version, last-modified epoch seconds).

    ``floor``: objects older than it are no longer remembered by version (None: no floor yet).
    ``ticks``: ticks that requested runs so far (part of the run key). ``legacy``: an old-format
    cursor (high-water mark and the keys at it), migrated on the next :func:`plan_new_objects`.
    """

    seen: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    floor: float | None = None
    ticks: int = 0
    legacy: tuple[float, tuple[str, ...]] | None = None

    @classmethod
    def parse(cls, raw: str | None) -> "LandingCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        if "seen" in data:
            seen = {key: (str(version), float(moment)) for key, version, moment in data["seen"]}
            floor = data.get("floor")
            return cls(seen, None if floor is None else float(floor), int(data.get("ticks", 0)))
        if "last_modified" in data:  # before key@version cursors: a high-water mark
            return cls(legacy=(float(data["last_modified"]), tuple(sorted(data.get("keys", ())))))
        raise ValueError(f"not a landing sensor cursor: {raw[:200]!r}")

    def dump(self) -> str:
        if self.legacy is not None:
            return json.dumps({"last_modified": self.legacy[0], "keys": list(self.legacy[1])})
        seen = [[key, version, moment] for key, (version, moment) in sorted(self.seen.items())]
        data = {"v": 2, "floor": self.floor, "ticks": self.ticks, "seen": seen}
        return json.dumps(data, separators=(",", ":"))


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def plan_new_objects(
    objects: list[ObjectInfo],
    cursor: LandingCursor,
    known_keys: Collection[str] = (),
    lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
    max_seen: int = DEFAULT_MAX_SEEN,
) -> tuple[list[ObjectInfo], LandingCursor]:
    """Objects to request (oldest first) and the next cursor.

    ``objects`` is the whole current listing (deleted files are forgotten, so landing one again is
    new); ``known_keys`` are the existing partitions, which decide for objects below the floor.
    """
    seen = dict(cursor.seen)
    if cursor.legacy is not None:
        # The old cursor passed everything before its mark and the listed keys at it: those count as
        # seen at their current version. Everything else is judged as usual.
        mark, keys = cursor.legacy
        for o in objects:
            moment = _ts(o.last_modified)
            if moment < mark or (moment == mark and o.key in keys):
                seen[o.key] = (o.version, moment)
    fresh = []
    for o in objects:
        entry = seen.get(o.key)
        if entry is not None and entry[0] == o.version:
            continue  # unchanged
        below_floor = cursor.floor is not None and _ts(o.last_modified) < cursor.floor
        if entry is None and below_floor and o.key in known_keys:
            continue  # older than the window and already a partition: ingested before
        fresh.append(o)
    fresh.sort(key=lambda o: (_ts(o.last_modified), o.key))
    for o in fresh:
        seen[o.key] = (o.version, _ts(o.last_modified))
    listed = {o.key for o in objects}
    seen = {key: entry for key, entry in seen.items() if key in listed}
    floor = cursor.floor
    if seen:
        newest = max(moment for _, moment in seen.values())
        floor = max(-math.inf if floor is None else floor, newest - lookback_seconds)
        if len(seen) > max_seen:  # keep the newest max_seen (all of those at the cut-off time)
            floor = max(floor, sorted((m for _, m in seen.values()), reverse=True)[max_seen - 1])
        seen = {key: entry for key, entry in seen.items() if entry[1] >= floor}
    ticks = cursor.ticks + (1 if fresh else 0)
    return fresh, LandingCursor(seen, floor, ticks)


def build_landing_sensor(
    use_case: str,
    job_name: str,
    partitions_def: DynamicPartitionsDefinition,
    accept: Callable[[ObjectInfo], bool] = lambda _o: True,
    minimum_interval_seconds: int = 30,
    default_status: DefaultSensorStatus | None = None,
    lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
    max_seen: int = DEFAULT_MAX_SEEN,
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
        known = set(context.instance.get_dynamic_partitions(partitions_def.name))
        fresh, next_cursor = plan_new_objects(objects, cursor, known, lookback_seconds, max_seen)
        if not fresh:
            # The cursor still moves: migrated, forgotten deletions, a higher floor.
            return SensorResult(
                skip_reason=SkipReason(f"no new files under {object_store.uri(use_case)}/"),
                cursor=next_cursor.dump(),
            )
        new_keys = sorted({o.key for o in fresh if o.key not in known})
        return SensorResult(
            run_requests=[
                RunRequest(
                    partition_key=o.key,
                    run_key=f"{o.key}@{o.version}#{next_cursor.ticks}",
                    tags={OBJECT_TAG: o.key, OBJECT_VERSION_TAG: o.version},
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


#: Tag of a batch landing run: how many new or changed files it was requested for.
NEW_FILES_TAG = "flywheel/new_files"


#: Runs that still hold what they were handed.
ACTIVE_RUN_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def _held_by_a_run(context: SensorEvaluationContext, job_name: str) -> SensorResult | None:
    """A skip (cursor kept) while a run of ``job_name`` is queued or in progress, else None."""
    holding = context.instance.get_runs(RunsFilter(job_name=job_name, statuses=ACTIVE_RUN_STATUSES), limit=1)
    if not holding:
        return None
    run = holding[0]
    return SensorResult(
        skip_reason=SkipReason(
            f"{job_name} run {run.run_id[:8]} ({run.status.value.lower()}) holds the landing; "
            "new files wait until it ends"
        ),
        cursor=context.cursor,
    )


def build_batch_landing_sensor(
    use_case: str,
    job_name: str,
    accept: Callable[[ObjectInfo], bool] = lambda _o: True,
    ingested_keys: Callable[[], Collection[str]] = lambda: (),
    minimum_interval_seconds: int = 30,
    default_status: DefaultSensorStatus | None = None,
    lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
    max_seen: int = DEFAULT_MAX_SEEN,
) -> SensorDefinition:
    """A sensor that requests *one* run of an unpartitioned ingest job per tick that sees new or
    changed objects, however many (use cases whose records are many small files, e.g. four PNGs per
    glitch, where a run per file would cost more than the file). The ingest reads the whole landing,
    so a batch is never half-ingested and a record split over two batches is whole in the second.

    New is judged as in :func:`build_landing_sensor` (``key@version`` cursor); ``ingested_keys`` (read at
    tick time) plays the partitions' part for objects older than the cursor remembers.

    While a run of the job is queued or in progress it holds the landing: the tick requests nothing
    and keeps its cursor, so no file is handed to two runs at once (they share a staging mirror and
    decoded slots); files the run did not read are requested after it ends.
    """

    @sensor(
        name=f"{use_case}_landing_sensor",
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_sensor_status(default_status),
        description=f"New or changed files under <landing>/{use_case}/ → one ingest run per batch of files.",
    )
    def _sensor(context: SensorEvaluationContext, object_store: ObjectStoreResource):
        held = _held_by_a_run(context, job_name)
        if held is not None:
            return held
        cursor = LandingCursor.parse(context.cursor)
        objects = [o for o in object_store.list(f"{use_case}/") if accept(o)]
        known = set(ingested_keys())
        fresh, next_cursor = plan_new_objects(objects, cursor, known, lookback_seconds, max_seen)
        if not fresh:
            return SensorResult(
                skip_reason=SkipReason(f"no new files under {object_store.uri(use_case)}/"),
                cursor=next_cursor.dump(),
            )
        digest = hashlib.sha1("\n".join(f"{o.key}@{o.version}" for o in fresh).encode()).hexdigest()[:12]
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=f"batch-{digest}#{next_cursor.ticks}",
                    tags={NEW_FILES_TAG: str(len(fresh))},
                )
            ],
            cursor=next_cursor.dump(),
        )

    return _sensor

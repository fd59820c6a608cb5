"""Kafka sensor: end offsets of ``<uc>.records`` → scoring runs over exact offset ranges.

The cursor is JSON: ``{"offsets": {"0": 120, "1": 98}, "pending_since": 1732380000.0}`` — the next
offset to hand out per partition, and when the oldest record not yet handed out was first seen. A
run is requested when the lag reaches ``batch_size`` (in chunks of at most ``batch_size`` records,
so a backlog becomes several runs) or when ``max_wait_seconds`` have passed since records started
waiting (then whatever is there goes, so a trickle is still scored). Each request's partition key
and run key are the offset ranges themselves: a retried tick with the same cursor asks for the same
runs, which Dagster drops as duplicates. Partitions missing from the cursor start at the beginning
of the log, so records produced before the sensor was switched on are scored too.

Every tick also records the topic's consumer lag (records not yet handed to a run, per partition
and in total) as an observation of the scored-batch asset, so the UI plots lag over time.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    AssetObservation,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.loop.records import Ranges, ranges_key
from orchestration.settings import get_settings
from resources.kafka import KafkaResource
from sensors.status import default_sensor_status


@dataclass(frozen=True)
class KafkaCursor:
    offsets: dict[int, int] = field(default_factory=dict)
    pending_since: float | None = None

    @classmethod
    def parse(cls, raw: str | None) -> "KafkaCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls({int(p): int(o) for p, o in data["offsets"].items()}, data.get("pending_since"))

    def dump(self) -> str:
        offsets = {str(p): o for p, o in sorted(self.offsets.items())}
        return json.dumps({"offsets": offsets, "pending_since": self.pending_since})


def plan_batches(
    cursor: KafkaCursor,
    beginning: dict[int, int],
    end: dict[int, int],
    batch_size: int,
    max_wait_seconds: float,
    now: float,
) -> tuple[list[Ranges], KafkaCursor]:
    """Offset ranges to request now (each at most ``batch_size`` records) and the next cursor."""
    position = {p: max(cursor.offsets.get(p, beginning.get(p, 0)), beginning.get(p, 0)) for p in end}
    lag = {p: end[p] - position[p] for p in end if end[p] > position[p]}
    if not lag:
        return [], KafkaCursor(position, None)
    pending_since = cursor.pending_since if cursor.pending_since is not None else now
    waited = now - pending_since >= max_wait_seconds
    batches: list[Ranges] = []
    while lag and (sum(lag.values()) >= batch_size or waited):
        take = min(batch_size, sum(lag.values()))
        ranges: Ranges = {}
        for p in sorted(lag):  # fill partition by partition: ranges stay contiguous per partition
            n = min(lag[p], take - sum(e - s for s, e in ranges.values()))
            if n > 0:
                ranges[p] = (position[p], position[p] + n)
        for p, (_s, e) in ranges.items():
            position[p] = e
            lag[p] = end[p] - e
            if not lag[p]:
                del lag[p]
        batches.append(ranges)
    return batches, KafkaCursor(position, (pending_since if not batches else now) if lag else None)


def lag_observation(
    asset_key: AssetKey, topic: str, end: dict[int, int], handed_out: dict[int, int], runs: int
) -> AssetObservation:
    """Records waiting on ``topic`` after this tick (end offset − next offset to hand out)."""
    lag = {p: max(0, end[p] - handed_out.get(p, 0)) for p in sorted(end)}
    return AssetObservation(
        asset_key=asset_key,
        metadata={
            "topic": topic,
            "consumer_lag": sum(lag.values()),
            **{f"lag_p{p}": n for p, n in lag.items()},
            "runs_requested": runs,
        },
    )


def build_kafka_sensor(
    use_case: str,
    topic: Callable[[], str],
    job_name: str,
    partitions_def: DynamicPartitionsDefinition,
    batch_size: int,
    max_wait_seconds: float,
    lag_asset_key: AssetKey,
    minimum_interval_seconds: int | None = None,
    default_status: DefaultSensorStatus | None = None,
) -> SensorDefinition:
    """A sensor requesting one ``job_name`` run per offset-range batch of ``topic()``; it ticks every
    ``FLYWHEEL_SENSOR_INTERVAL_SECONDS`` unless ``minimum_interval_seconds`` says otherwise."""

    @sensor(
        name=f"{use_case}_kafka_sensor",
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds or get_settings().sensor_interval_seconds,
        default_status=default_sensor_status(default_status),
        description=f"Records on <prefix>{use_case}.records → one scoring run per batch of up to "
        f"{batch_size} records (or whatever waited {max_wait_seconds:.0f}s).",
    )
    def _sensor(context: SensorEvaluationContext, kafka: KafkaResource):
        name = topic()
        kafka.ensure_topic(name)
        cursor = KafkaCursor.parse(context.cursor)
        end = kafka.end_offsets(name)
        beginning = kafka.beginning_offsets(name) if set(end) - set(cursor.offsets) else {}
        settings = get_settings()  # deployments may override sizes without a code change
        size = settings.batch_size or batch_size
        wait = (
            max_wait_seconds if settings.batch_max_wait_seconds is None else settings.batch_max_wait_seconds
        )
        batches, next_cursor = plan_batches(cursor, beginning, end, size, wait, time.time())
        observation = lag_observation(lag_asset_key, name, end, next_cursor.offsets, len(batches))
        if not batches:
            waiting = sum(end[p] - next_cursor.offsets.get(p, 0) for p in end)
            return SensorResult(
                skip_reason=SkipReason(f"{waiting} record(s) waiting on {name}; batch size {size}"),
                cursor=next_cursor.dump(),
                asset_events=[observation],
            )
        keys = [ranges_key(r) for r in batches]
        return SensorResult(
            run_requests=[
                RunRequest(partition_key=k, run_key=f"{name}:{k}", tags={"flywheel/topic": name})
                for k in keys
            ],
            dynamic_partitions_requests=[partitions_def.build_add_request(keys)],
            cursor=next_cursor.dump(),
            asset_events=[observation],
        )

    return _sensor

"""Kafka sensor: end offsets of ``<uc>.records`` → scoring runs over exact offset ranges.

The cursor is JSON: ``{"topic": "disaster.records", "topic_id": "…", "offsets": {"0": 120, "1": 98},
"pending_since": 1732380000.0}`` — the topic it follows, that topic's id, the next offset to hand
out per partition, and when the oldest record not yet handed out was first seen. A run is requested
when the lag reaches ``batch_size`` (in chunks of at most ``batch_size`` records, so a backlog becomes
several runs) or when ``max_wait_seconds`` have passed since records started waiting (then whatever
is there goes, so a trickle is still scored). Each request's partition key and run key are the
topic's id and the offset ranges (``3f9a2b1c0d4e:p0=100-200,p1=50-150``). Partitions missing from the
cursor start at the beginning of the log, so records produced before the sensor was switched on are
scored too.

What can go wrong, and what the sensor does:
- **Empty or partial metadata** (leaders being elected after a broker restart, an ACL change): a
  tick whose end offsets lack a partition the cursor has, or that cannot see the topic, skips and
  keeps its cursor; it never starts a partition over.
- **Topic deleted and created again, or the prefix changed**: a new topic id (or name) starts the new
  topic from its beginning, logs a warning and records the reset as an observation the UI shows;
  keys carry the new id, so the new topic's ``p0=0-100`` never overwrites the old one's rows.
- **Retention**: offsets of the cursor below the log start are handed out as one batch of their own,
  which the scoring run records as one ``expired`` dead-letter entry (the loss is visible and counted).
- **Re-evaluated ticks**: what a tick hands out is decided from its cursor and what it read, and that
  decision is stored in the instance (``run_storage`` cursor values) before the tick returns; a tick
  evaluated again with the same cursor hands out exactly the stored ranges, whatever arrived since,
  so two overlapping ranges (``p0=0-70`` and ``p0=0-100``) can never both be requested.

Runs are requested only once a champion exists (until then the records wait), and carry the
champion version resolved at the tick and its artifact location (run tags), so the run loads the
model without a registry round trip and its retries score with the same version.

Every tick also records the topic's consumer lag (records not yet handed to a run, per partition
and in total) as an observation of the scored-batch asset, so the UI plots lag over time.
"""

import hashlib
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
from orchestration.run_tags import CHAMPION_URI_TAG, CHAMPION_VERSION_TAG
from orchestration.settings import get_settings
from resources.kafka import KafkaResource
from resources.mlflow_registry import MlflowResource
from sensors.status import default_sensor_status


@dataclass(frozen=True)
class KafkaCursor:
    offsets: dict[int, int] = field(default_factory=dict)
    pending_since: float | None = None
    topic: str | None = None
    topic_id: str | None = None

    @classmethod
    def parse(cls, raw: str | None) -> "KafkaCursor":
        """The cursor, also from the older form without topic and id (adopted on the next tick)."""
        if not raw:
            return cls()
        data = json.loads(raw)
        offsets = {int(p): int(o) for p, o in data["offsets"].items()}
        return cls(offsets, data.get("pending_since"), data.get("topic"), data.get("topic_id"))

    def dump(self) -> str:
        offsets = {str(p): o for p, o in sorted(self.offsets.items())}
        return json.dumps(
            {
                "topic": self.topic,
                "topic_id": self.topic_id,
                "offsets": offsets,
                "pending_since": self.pending_since,
            }
        )


def plan_batches(
    cursor: KafkaCursor,
    beginning: dict[int, int],
    end: dict[int, int],
    batch_size: int,
    max_wait_seconds: float,
    now: float,
) -> tuple[list[Ranges], KafkaCursor]:
    """Offset ranges to request now (each at most ``batch_size`` records) and the next cursor.

    A partition whose cursor fell below the log start first gets one batch of just the expired
    offsets (``[cursor, log start)``), so the scoring run can record the loss; then batches go on
    from the log start.
    """
    position = {p: cursor.offsets.get(p, beginning.get(p, 0)) for p in end}
    batches: list[Ranges] = []
    for p in sorted(end):
        log_start = beginning.get(p, 0)
        if position[p] < log_start:
            batches.append({p: (position[p], log_start)})
            position[p] = log_start
    lag = {p: end[p] - position[p] for p in end if end[p] > position[p]}
    if not lag:
        return batches, KafkaCursor(position, None, cursor.topic, cursor.topic_id)
    pending_since = cursor.pending_since if cursor.pending_since is not None else now
    waited = now - pending_since >= max_wait_seconds
    requested = len(batches)
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
    handed_out = len(batches) > requested
    since = (pending_since if not handed_out else now) if lag else None
    return batches, KafkaCursor(position, since, cursor.topic, cursor.topic_id)


@dataclass(frozen=True)
class TickDecision:
    """What one tick hands out: partition keys, the next cursor, and why it reset or skipped."""

    keys: list[str]
    cursor: KafkaCursor
    skip: str | None = None
    reset: str | None = None

    def dump(self) -> str:
        return json.dumps(
            {"keys": self.keys, "cursor": self.cursor.dump(), "skip": self.skip, "reset": self.reset}
        )

    @classmethod
    def parse(cls, raw: str) -> "TickDecision":
        data = json.loads(raw)
        return cls(data["keys"], KafkaCursor.parse(data["cursor"]), data.get("skip"), data.get("reset"))


def reset_reason(cursor: KafkaCursor, topic: str, topic_id: str, end: dict[int, int]) -> str | None:
    """Why the cursor no longer describes this topic (so it must start over), or None."""
    if cursor.topic is not None and cursor.topic != topic:
        return f"topic changed from {cursor.topic} to {topic}"
    if cursor.topic_id is not None and cursor.topic_id != topic_id:
        return f"{topic} was deleted and created again (id {cursor.topic_id} → {topic_id})"
    behind = {p: (o, end[p]) for p, o in cursor.offsets.items() if p in end and end[p] < o}
    if behind:  # an older cursor without an id, on a topic that was recreated
        return f"{topic}'s end offsets fell below the cursor ({behind}): a new topic"
    return None


def decide_tick(
    cursor: KafkaCursor,
    topic: str,
    topic_id: str | None,
    beginning: dict[int, int],
    end: dict[int, int],
    batch_size: int,
    max_wait_seconds: float,
    now: float,
) -> TickDecision:
    """The tick's decision from its cursor and what it read (pure, so every rule is testable)."""
    if topic_id is None or not end:
        return TickDecision([], cursor, skip=f"no metadata for {topic} (missing, or leaders being elected)")
    lost = sorted(set(cursor.offsets) - set(end))
    reset = reset_reason(cursor, topic, topic_id, end)
    if lost and reset is None:
        return TickDecision([], cursor, skip=f"partial metadata for {topic}: partitions {lost} not seen")
    if reset is not None:
        cursor = KafkaCursor(topic=topic, topic_id=topic_id)
    else:
        cursor = KafkaCursor(cursor.offsets, cursor.pending_since, topic, topic_id)
    batches, next_cursor = plan_batches(cursor, beginning, end, batch_size, max_wait_seconds, now)
    return TickDecision([ranges_key(r, topic_id) for r in batches], next_cursor, reset=reset)


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


def _write_lag_file(
    context: SensorEvaluationContext,
    use_case: str,
    asset_key: AssetKey,
    lag: AssetObservation,
    cursor: "KafkaCursor",
) -> None:
    """``monitoring/<uc>/lag.json`` for the monitor page: records waiting, how long the oldest has
    waited, and the last scored batch's produce→prediction p95 (one event-log read a tick)."""
    from datetime import UTC, datetime

    from assets.monitoring.files import monitoring_dir, write_json

    waiting = int(lag.metadata["consumer_lag"].value)
    since = getattr(cursor, "pending_since", None)
    last = context.instance.fetch_materializations(asset_key, limit=1).records
    p95 = last[0].asset_materialization.metadata.get("latency_p95_s") if last else None
    body = {
        "updated_at": datetime.now(UTC).isoformat(),
        "lag_records": waiting,
        "oldest_wait_seconds": round(time.time() - since, 3)
        if waiting and isinstance(since, int | float)
        else 0.0,
        "latency_p95_s": float(p95.value) if p95 is not None else None,
    }
    try:
        write_json(monitoring_dir(use_case) / "lag.json", body)
    except OSError as exc:  # the page's file is no reason to fail a tick
        context.log.warning(f"{use_case}: could not write lag.json ({exc})")


class DecisionStore:
    """The last decision of a sensor that handed something out, keyed by the cursor it came from,
    in the instance's own storage (durable before the tick returns its run requests)."""

    def __init__(self, context: SensorEvaluationContext, sensor_name: str):
        self.storage = context.instance.run_storage
        self.key = f"flywheel/kafka-sensor-decision/{sensor_name}"

    @staticmethod
    def _fingerprint(raw_cursor: str | None) -> str:
        return hashlib.sha256((raw_cursor or "").encode()).hexdigest()

    def get(self, raw_cursor: str | None) -> TickDecision | None:
        stored = self.storage.get_cursor_values({self.key}).get(self.key)
        if not stored:
            return None
        data = json.loads(stored)
        if data.get("for") != self._fingerprint(raw_cursor):
            return None
        return TickDecision.parse(data["decision"])

    def put(self, raw_cursor: str | None, decision: TickDecision) -> None:
        value = json.dumps({"for": self._fingerprint(raw_cursor), "decision": decision.dump()})
        self.storage.set_cursor_values({self.key: value})


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
    topic_config: dict[str, str] | None = None,
) -> SensorDefinition:
    """A sensor requesting one ``job_name`` run per offset-range batch of ``topic()``; it ticks every
    ``FLYWHEEL_SENSOR_INTERVAL_SECONDS`` unless ``minimum_interval_seconds`` says otherwise.
    ``topic_config``: settings the topic is created with if the sensor is first to need it."""
    name_ = f"{use_case}_kafka_sensor"

    @sensor(
        name=name_,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds or get_settings().sensor_interval_seconds,
        default_status=default_sensor_status(default_status),
        description=f"Records on <prefix>{use_case}.records → one scoring run per batch of up to "
        f"{batch_size} records (or whatever waited {max_wait_seconds:.0f}s).",
    )
    def _sensor(context: SensorEvaluationContext, kafka: KafkaResource, mlflow_registry: MlflowResource):
        name = topic()
        if topic_config:
            kafka.ensure_topic(name, config=topic_config)
        else:
            kafka.ensure_topic(name)
        from kafka.errors import KafkaConnectionError

        cursor = KafkaCursor.parse(context.cursor)
        try:
            beginning, end = kafka.log_bounds(name)  # one round trip for both
        except KafkaConnectionError as exc:
            # A broker just died and the client kept asking it (kafka-python 3): this tick sees no
            # log, so it hands out nothing and keeps its cursor; the next one asks the live brokers.
            return SensorResult(
                skip_reason=SkipReason(f"{name}: cannot read the log bounds now ({exc}); cursor kept"),
                cursor=context.cursor,
            )
        store = DecisionStore(context, name_)
        decision = store.get(context.cursor)
        if decision is None:
            settings = get_settings()  # deployments may override sizes without a code change
            size = settings.batch_size or batch_size
            wait = (
                max_wait_seconds
                if settings.batch_max_wait_seconds is None
                else settings.batch_max_wait_seconds
            )
            decision = decide_tick(
                cursor, name, kafka.topic_id(name), beginning, end, size, wait, time.time()
            )
            if decision.keys:
                store.put(context.cursor, decision)  # before anything is handed out
        events = [lag_observation(lag_asset_key, name, end, decision.cursor.offsets, len(decision.keys))]
        _write_lag_file(context, use_case, lag_asset_key, events[0], decision.cursor)
        if decision.reset:
            context.log.warning(f"{name_}: {decision.reset}; starting the topic from its beginning")
            events.append(
                AssetObservation(
                    asset_key=lag_asset_key,
                    metadata={"topic": name, "reset": decision.reset, "topic_id": decision.cursor.topic_id},
                )
            )
        if decision.skip:
            return SensorResult(skip_reason=SkipReason(decision.skip), cursor=cursor.dump())
        if not decision.keys:
            waiting = sum(end[p] - decision.cursor.offsets.get(p, 0) for p in end)
            return SensorResult(
                skip_reason=SkipReason(f"{waiting} record(s) waiting on {name}; batch size {batch_size}"),
                cursor=decision.cursor.dump(),
                asset_events=events,
            )
        champion = mlflow_registry.registry().champion_location(use_case)
        if champion is None:  # nothing handed out: the records wait for a first champion
            return SensorResult(
                skip_reason=SkipReason(f"no {use_case} champion yet: {name}'s records wait"),
                cursor=cursor.dump(),
                asset_events=events,
            )
        tags = {"flywheel/topic": name, CHAMPION_VERSION_TAG: champion[0], CHAMPION_URI_TAG: champion[1]}
        return SensorResult(
            run_requests=[
                RunRequest(partition_key=k, run_key=f"{name}:{k}", tags=tags) for k in decision.keys
            ],
            dynamic_partitions_requests=[partitions_def.build_add_request(decision.keys)],
            cursor=decision.cursor.dump(),
            asset_events=events,
        )

    return _sensor

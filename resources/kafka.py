"""Kafka access for assets and sensors: producer, consumer and admin factories plus topic helpers.

Dagster has no Kafka integration; this resource is the one place that knows how to talk to the
broker. Sensors use :meth:`KafkaResource.end_offsets` to see lag without joining a consumer group;
assets consume exact offset ranges with :meth:`KafkaResource.read_range` so a partition of work
is always the same records, however often it is re-run.

Reading a range never resets silently: consumers use ``auto_offset_reset="none"``. Offsets below the
log start (deleted by retention, or by ``DeleteRecords``) are clamped to it and reported as an
``expired`` range; offsets inside the range that the log no longer holds (compacted away, or taken
by transaction markers) are reported as a ``gap``; the read stops at the range's end offset, not at
a record count. What a range read returns therefore always accounts for every offset in the range.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from dagster import ConfigurableResource
from pydantic import Field

if TYPE_CHECKING:  # kafka-python is imported where a client is made: loading definitions stays cheap
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer


#: ``(bootstrap servers, topic)`` this process has seen exist (see ``ensure_topic``).
_EXISTING_TOPICS: set[tuple[str, str]] = set()


def _partition_of(record: KafkaRecord) -> int:
    return record.partition


class KafkaRecord(NamedTuple):
    """One consumed record with its coordinates (what makes it unique in the log). A tuple: a
    100k-record batch makes 100k of them, and a frozen dataclass costs several times more to build."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True)
class MissingRange:
    """Offsets ``[start, end)`` of a partition that a range read found no records for, and why:
    ``expired`` (below the log start: retention or DeleteRecords) or ``gap`` (compacted away, or
    transaction markers)."""

    partition: int
    start: int
    end: int
    reason: str


@dataclass
class RangeRead:
    """The records of a range read, and the offsets of the range it could not return."""

    records: list[KafkaRecord]
    missing: list[MissingRange]

    def __iter__(self) -> Iterator[KafkaRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def accounted(self) -> int:
        """Offsets covered: records plus missing offsets (equals the range size after a full read)."""
        return len(self.records) + sum(m.end - m.start for m in self.missing)


def topic_replication(admin: KafkaAdminClient) -> int:
    """min(3, brokers): every record on three brokers once the cluster has them."""
    brokers = admin.describe_cluster().get("brokers") or []
    return max(1, min(3, len(brokers)))


def durability_config(replicas: int) -> dict[str, str]:
    """``min.insync.replicas=2`` with three or more copies: an ``acks=all`` write then survives the
    loss of any one broker, and a partition down to one copy refuses writes instead of risking them."""
    return {"min.insync.replicas": "2"} if replicas >= 3 else {}


class KafkaResource(ConfigurableResource):
    """Factories for kafka-python clients against ``KAFKA_BOOTSTRAP_SERVERS``."""

    bootstrap_servers: str = Field(description="Comma-separated host:port list of the Kafka brokers.")
    default_partitions: int = Field(default=2, description="Partitions for topics Flywheel creates.")
    replication_factor: int = Field(
        default=0,
        description="Replication factor for topics Flywheel creates; 0: min(3, brokers in the cluster).",
    )
    client_id: str = Field(default="flywheel")
    request_timeout_ms: int = Field(default=30000)

    # -- client factories ---------------------------------------------------------------------
    def _common(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap_servers.split(","), "client_id": self.client_id}

    def producer(self, **overrides: Any) -> KafkaProducer:
        """A producer that waits for the full ISR (acks=all) so an acknowledged record is durable."""
        from kafka import KafkaProducer

        # Idempotence: a batch retried after a lost acknowledgement (a broker killed mid-write, a
        # leader moved) is written once, not twice. Retries are bounded by time, not count: a leader
        # election after a broker dies takes seconds, which five quick retries would not outlast.
        kwargs = {
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "delivery_timeout_ms": 60_000,
            **self._common(),
            **overrides,
        }
        return KafkaProducer(**kwargs)

    def consumer(self, group_id: str | None = None, **overrides: Any) -> KafkaConsumer:
        """A kafka-python consumer that never jumps silently (``auto_offset_reset="none"``): a group
        consumer with no committed offsets, or a seek below the log start, raises instead of
        skipping ahead; pass ``auto_offset_reset`` to choose otherwise."""
        from kafka import KafkaConsumer

        kwargs = {
            "group_id": group_id,
            "enable_auto_commit": False,
            # Never jump silently: an offset the log no longer holds raises, and the caller accounts
            # for it (see ``read_range``).
            "auto_offset_reset": "none",
            "request_timeout_ms": self.request_timeout_ms,
            **self._common(),
            **overrides,
        }
        return KafkaConsumer(**kwargs)

    def admin(self) -> KafkaAdminClient:
        from kafka import KafkaAdminClient

        return KafkaAdminClient(request_timeout_ms=self.request_timeout_ms, **self._common())

    # -- topics -------------------------------------------------------------------------------
    def ensure_topic(
        self,
        name: str,
        partitions: int | None = None,
        replication: int | None = None,
        config: dict[str, str] | None = None,
    ) -> bool:
        """Create the topic if it is missing. Returns True when it was created now.

        Topics seen to exist are remembered for the process (a scoring batch asks for its two output
        topics every time; an admin round trip each costs more than the check is worth).
        """
        if (self.bootstrap_servers, name) in _EXISTING_TOPICS:
            return False
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = self.admin()
        try:
            if name in admin.list_topics():
                _EXISTING_TOPICS.add((self.bootstrap_servers, name))
                return False
            replicas = replication or self.replication_factor or topic_replication(admin)
            topic = NewTopic(
                name=name,
                num_partitions=partitions or self.default_partitions,
                replication_factor=replicas,
                topic_configs={**durability_config(replicas), **(config or {})},
            )
            try:
                admin.create_topics([topic])
            except TopicAlreadyExistsError:
                _EXISTING_TOPICS.add((self.bootstrap_servers, name))
                return False
            # Remembered only once it exists: a failed creation (raised above) is tried again.
            _EXISTING_TOPICS.add((self.bootstrap_servers, name))
            return True
        finally:
            admin.close()

    def _through_consumer(self, read: Any, pauses: tuple[float, ...] = (0.5, 1.0)) -> Any:
        """``read(consumer)`` with a fresh consumer, tried again (a new consumer, after each pause)
        when a broker refuses the connection: kafka-python 3 raises instead of asking another broker
        when the node it picked for metadata has just died, and a sensor tick must ride that out
        (the broker-kill drill, ``tests/cluster/test_cluster_loop.py``)."""
        from kafka.errors import KafkaConnectionError

        for pause in pauses:
            try:
                return self._with_consumer(read)
            except KafkaConnectionError:
                time.sleep(pause)
        return self._with_consumer(read)

    def _with_consumer(self, read: Any) -> Any:
        consumer = self.consumer()
        try:
            return read(consumer)
        finally:
            consumer.close()

    def partitions_for(self, topic: str) -> list[int]:
        return self._through_consumer(lambda consumer: sorted(consumer.partitions_for_topic(topic) or []))

    def _offsets(self, topic: str, *sides: str) -> list[dict[int, int]]:
        """``beginning_offsets`` / ``end_offsets`` of every partition, through one consumer."""
        from kafka import TopicPartition

        def read(consumer: Any) -> list[dict[int, int]]:
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            return [
                {tp.partition: off for tp, off in getattr(consumer, f"{side}_offsets")(parts).items()}
                for side in sides
            ]

        return self._through_consumer(read)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to be written, per partition (what a sensor compares its cursor with)."""
        return self._offsets(topic, "end")[0]

    def beginning_offsets(self, topic: str) -> dict[int, int]:
        """The log start per partition (what retention has not deleted)."""
        return self._offsets(topic, "beginning")[0]

    def log_bounds(self, topic: str) -> tuple[dict[int, int], dict[int, int]]:
        """``(beginning, end)`` offsets per partition in one round trip (a sensor tick needs both)."""
        beginning, end = self._offsets(topic, "beginning", "end")
        return beginning, end

    def topic_id(self, topic: str) -> str | None:
        """The topic's id as 32 hex digits (a new one when a topic is deleted and created again), or
        None when the topic does not exist."""
        from confluent_kafka import KafkaException, TopicCollection
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "client.id": self.client_id})
        timeout = self.request_timeout_ms / 1000
        futures = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)
        try:
            description = futures[topic].result()
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" in str(exc):
                _EXISTING_TOPICS.discard((self.bootstrap_servers, topic))  # gone: ensure_topic asks again
                return None
            raise
        uid = description.topic_id  # 128 bits; its str() is base64 (with + and /), so hex instead
        mask = (1 << 64) - 1
        return f"{uid.get_most_significant_bits() & mask:016x}{uid.get_least_significant_bits() & mask:016x}"

    # -- reading and writing -------------------------------------------------------------------
    def read_range(
        self,
        topic: str,
        ranges: dict[int, tuple[int, int]],
        poll_timeout_ms: int = 1000,
        max_idle_polls: int = 30,
        max_partition_fetch_bytes: int | None = None,
    ) -> RangeRead:
        """The records in ``[start, end)`` of each partition, without a consumer group, and the offsets
        of those ranges the log no longer holds (``MissingRange``: expired or gap).

        Assigning partitions and seeking (rather than subscribing) is what makes a re-run of the
        same range read the same records. A partition is done when the consumer's position reaches
        the range's end offset, so gaps (compaction, transaction markers) end the read correctly.
        ``max_partition_fetch_bytes``: bytes a fetch may return per partition (topics of large records
        set it to at least their largest record; None keeps the client's 1 MiB).
        """
        from kafka import TopicPartition
        from kafka.errors import OffsetOutOfRangeError

        wanted = {p: (s, e) for p, (s, e) in ranges.items() if e > s}
        read = RangeRead([], [])
        if not wanted:
            return read
        # Large polls: the default 500 records a poll made polling overhead a third of a 100k read.
        sizes = {}
        if max_partition_fetch_bytes is not None:
            sizes["max_partition_fetch_bytes"] = max_partition_fetch_bytes
        consumer = self.consumer(group_id=None, max_poll_records=50_000, **sizes)
        try:
            tps = {p: TopicPartition(topic, p) for p in wanted}
            consumer.assign(list(tps.values()))
            expected = {p: s for p, (s, _e) in wanted.items()}  # next offset each partition owes

            def clamp(partitions: list[int]) -> None:
                """Seek past what retention deleted, recording it as expired."""
                starts = consumer.beginning_offsets([tps[p] for p in partitions])
                for p in partitions:
                    log_start, end = starts[tps[p]], wanted[p][1]
                    if log_start > expected[p]:
                        read.missing.append(MissingRange(p, expected[p], min(log_start, end), "expired"))
                        expected[p] = min(log_start, end)
                    consumer.seek(tps[p], expected[p])

            clamp(list(wanted))
            append = read.records.append
            remaining = {p for p in wanted if expected[p] < wanted[p][1]}
            for p in set(wanted) - remaining:
                consumer.pause(tps[p])
            idle = 0
            while remaining and idle < max_idle_polls:
                try:
                    batch = consumer.poll(timeout_ms=poll_timeout_ms)
                except OffsetOutOfRangeError:  # retention deleted more while reading
                    clamp(sorted(remaining))
                    continue
                idle = 0 if batch else idle + 1
                for tp, records in batch.items():
                    p = tp.partition
                    if p not in remaining:
                        continue
                    end = wanted[p][1]
                    for rec in records:
                        if rec.offset >= end:
                            break
                        if rec.offset > expected[p]:
                            read.missing.append(MissingRange(p, expected[p], rec.offset, "gap"))
                        key = rec.key.decode() if rec.key is not None else None
                        append(KafkaRecord(topic, p, rec.offset, key, rec.value, rec.timestamp))
                        expected[p] = rec.offset + 1
                for p in sorted(remaining):  # also when a poll returned nothing (trailing markers)
                    end = wanted[p][1]
                    if consumer.position(tps[p]) >= end:
                        if expected[p] < end:  # the range ends in a gap
                            read.missing.append(MissingRange(p, expected[p], end, "gap"))
                            expected[p] = end
                        remaining.discard(p)
                        consumer.pause(tps[p])
            if remaining:
                owed = {p: (expected[p], wanted[p][1]) for p in sorted(remaining)}
                raise TimeoutError(f"could not read {topic} ranges {owed} (records missing or broker slow)")
        finally:
            consumer.close()
        # Partition by partition, each in offset order: the same range reads in the same order every
        # time. Polls interleave partitions as their leaders answer, which differs between runs once
        # the leaders are on several brokers (and order decides ties, e.g. in uncertainty sampling).
        # A stable sort of runs already in order costs about one pass.
        read.records.sort(key=_partition_of)
        return read

    def publisher(self) -> Publisher:
        """A librdkafka producer for batches of encoded records (see :class:`Publisher`)."""
        return Publisher(self.bootstrap_servers, self.client_id, max(self.request_timeout_ms, 30_000))

    def send_raw(self, topic: str, keys: list[bytes | None], values: list[bytes]) -> int:
        """Publish already-encoded values (one per key); returns once the broker acknowledged them all."""
        publisher = self.publisher()
        publisher.produce(topic, keys, values)
        return publisher.flush()

    def send_json(self, topic: str, records: list[dict[str, Any]], key_field: str | None = None) -> int:
        """Publish records as JSON values, keyed by ``key_field`` when given; waits for every ack."""
        keys = [
            str(rec[key_field]).encode() if key_field and rec.get(key_field) is not None else None
            for rec in records
        ]
        return self.send_raw(topic, keys, [json.dumps(rec, default=str).encode() for rec in records])


class Publisher:
    """Batches of already-encoded records through librdkafka (``confluent-kafka``).

    A scoring batch publishes up to 100k records at once; kafka-python's pure-Python ``send`` cost
    about 90 µs a record (most of a batch's time), librdkafka's a few. ``produce`` only queues:
    librdkafka's own threads send while the caller goes on (writing the predictions table, say),
    and ``flush`` waits for the broker's acknowledgements. ``acks=all`` with idempotence, so a
    retried request never writes a record twice; a record the broker refused raises on ``flush``.
    """

    def __init__(self, bootstrap_servers: str, client_id: str, timeout_ms: int):
        from confluent_kafka import Producer

        self.timeout_ms = timeout_ms
        self.queued = 0
        errors: list[str] = []
        self.errors = errors

        def delivered(error: Any, _message: Any) -> None:  # a closure, not a bound method: no cycle
            if error is not None:
                errors.append(str(error))

        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": client_id,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 20,
                "batch.size": 1 << 20,
                "queue.buffering.max.messages": 1_000_000,
                "message.timeout.ms": timeout_ms,
                # Only failed deliveries call back into Python (100k callbacks cost a third of a second).
                "delivery.report.only.error": True,
                "on_delivery": delivered,
            }
        )

    def produce(self, topic: str, keys: list[bytes | None], values: list[bytes]) -> None:
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values")
        produce = self.producer.produce
        for key, value in zip(keys, values, strict=True):
            try:
                produce(topic, value, key)
            except BufferError:  # local queue full: let librdkafka send some first, then once more
                while True:
                    self.producer.poll(0.05)
                    try:
                        produce(topic, value, key)
                        break
                    except BufferError:
                        continue
        self.queued += len(values)

    def flush(self) -> int:
        """Wait until every queued record is acknowledged; returns how many were published."""
        from confluent_kafka import KafkaException

        remaining = self.producer.flush(self.timeout_ms / 1000)
        if remaining or self.errors:
            raise KafkaException(
                f"{remaining} record(s) not acknowledged, {len(self.errors)} refused"
                + (f" (first: {self.errors[0]})" if self.errors else "")
            )
        return self.queued

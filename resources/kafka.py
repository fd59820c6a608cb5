"""Kafka access for assets and sensors: producer, consumer and admin factories plus topic helpers.

Dagster has no Kafka integration; this resource is the one place that knows how to talk to the
broker. Sensors use :meth:`KafkaResource.end_offsets` to see lag without joining a consumer group;
assets consume exact offset ranges with :meth:`KafkaResource.read_range` so a partition of work
is always the same records, however often it is re-run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field

if TYPE_CHECKING:  # kafka-python is imported where a client is made: loading definitions stays cheap
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer


#: ``(bootstrap servers, topic)`` this process has seen exist (see ``ensure_topic``).
_EXISTING_TOPICS: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class KafkaRecord:
    """One consumed record with its coordinates (what makes it unique in the log)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int


class KafkaResource(ConfigurableResource):
    """Factories for kafka-python clients against ``KAFKA_BOOTSTRAP_SERVERS``."""

    bootstrap_servers: str = Field(description="Comma-separated host:port list of the Kafka brokers.")
    default_partitions: int = Field(default=2, description="Partitions for topics Flywheel creates.")
    replication_factor: int = Field(default=1, description="Replication factor for topics Flywheel creates.")
    client_id: str = Field(default="flywheel")
    request_timeout_ms: int = Field(default=30000)

    # -- client factories ---------------------------------------------------------------------
    def _common(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap_servers.split(","), "client_id": self.client_id}

    def producer(self, **overrides: Any) -> KafkaProducer:
        """A producer that waits for the full ISR (acks=all) so an acknowledged record is durable."""
        from kafka import KafkaProducer

        kwargs = {"acks": "all", "linger_ms": 5, "retries": 5, **self._common(), **overrides}
        return KafkaProducer(**kwargs)

    def consumer(self, group_id: str | None = None, **overrides: Any) -> KafkaConsumer:
        from kafka import KafkaConsumer

        kwargs = {
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "request_timeout_ms": self.request_timeout_ms,
            **self._common(),
            **overrides,
        }
        return KafkaConsumer(**kwargs)

    def admin(self) -> KafkaAdminClient:
        from kafka import KafkaAdminClient

        return KafkaAdminClient(request_timeout_ms=self.request_timeout_ms, **self._common())

    # -- topics -------------------------------------------------------------------------------
    def ensure_topic(self, name: str, partitions: int | None = None, replication: int | None = None) -> bool:
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
            topic = NewTopic(
                name=name,
                num_partitions=partitions or self.default_partitions,
                replication_factor=replication or self.replication_factor,
            )
            try:
                admin.create_topics([topic])
            except TopicAlreadyExistsError:
                return False
            finally:
                _EXISTING_TOPICS.add((self.bootstrap_servers, name))
            return True
        finally:
            admin.close()

    def partitions_for(self, topic: str) -> list[int]:
        consumer = self.consumer()
        try:
            parts = consumer.partitions_for_topic(topic)
            return sorted(parts or [])
        finally:
            consumer.close()

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to be written, per partition (what a sensor compares its cursor with)."""
        from kafka import TopicPartition

        consumer = self.consumer()
        try:
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            return {tp.partition: off for tp, off in consumer.end_offsets(parts).items()}
        finally:
            consumer.close()

    def beginning_offsets(self, topic: str) -> dict[int, int]:
        from kafka import TopicPartition

        consumer = self.consumer()
        try:
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            return {tp.partition: off for tp, off in consumer.beginning_offsets(parts).items()}
        finally:
            consumer.close()

    # -- reading and writing -------------------------------------------------------------------
    def read_range(
        self,
        topic: str,
        ranges: dict[int, tuple[int, int]],
        poll_timeout_ms: int = 1000,
        max_idle_polls: int = 30,
    ) -> Iterator[KafkaRecord]:
        """Yield exactly the records in ``[start, end)`` for each partition, without a consumer group.

        Assigning partitions and seeking (rather than subscribing) is what makes a re-run of the
        same range read the same records.
        """
        from kafka import TopicPartition

        wanted = {p: (s, e) for p, (s, e) in ranges.items() if e > s}
        if not wanted:
            return
        consumer = self.consumer(group_id=None)
        try:
            tps = [TopicPartition(topic, p) for p in wanted]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, wanted[tp.partition][0])
            remaining = dict(wanted)
            idle = 0
            while remaining and idle < max_idle_polls:
                batch = consumer.poll(timeout_ms=poll_timeout_ms)
                idle = 0 if batch else idle + 1
                for tp, records in batch.items():
                    if tp.partition not in remaining:
                        continue
                    end = remaining[tp.partition][1]
                    for rec in records:
                        if rec.offset >= end:
                            break
                        yield KafkaRecord(
                            topic=rec.topic,
                            partition=rec.partition,
                            offset=rec.offset,
                            key=rec.key.decode() if rec.key is not None else None,
                            value=rec.value,
                            timestamp_ms=rec.timestamp,
                        )
                    if consumer.position(tp) >= end:
                        remaining.pop(tp.partition)
                        consumer.pause(tp)
            if remaining:
                raise TimeoutError(
                    f"could not read {topic} ranges {remaining} (records missing or broker slow)"
                )
        finally:
            consumer.close()

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
            }
        )
        self.queued = 0
        self.errors: list[str] = []

    def _delivered(self, error: Any, _message: Any) -> None:
        if error is not None:
            self.errors.append(str(error))

    def produce(self, topic: str, keys: list[bytes | None], values: list[bytes]) -> None:
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values")
        produce = self.producer.produce
        for key, value in zip(keys, values, strict=True):
            while True:
                try:
                    produce(topic, value=value, key=key, on_delivery=self._delivered)
                    break
                except BufferError:  # local queue full: let librdkafka send some first
                    self.producer.poll(0.05)
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

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
from typing import Any

from dagster import ConfigurableResource
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from pydantic import Field


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
        kwargs = {"acks": "all", "linger_ms": 5, "retries": 5, **self._common(), **overrides}
        return KafkaProducer(**kwargs)

    def consumer(self, group_id: str | None = None, **overrides: Any) -> KafkaConsumer:
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
        return KafkaAdminClient(request_timeout_ms=self.request_timeout_ms, **self._common())

    # -- topics -------------------------------------------------------------------------------
    def ensure_topic(self, name: str, partitions: int | None = None, replication: int | None = None) -> bool:
        """Create the topic if it is missing. Returns True when it was created now."""
        admin = self.admin()
        try:
            if name in admin.list_topics():
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
        consumer = self.consumer()
        try:
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            return {tp.partition: off for tp, off in consumer.end_offsets(parts).items()}
        finally:
            consumer.close()

    def beginning_offsets(self, topic: str) -> dict[int, int]:
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

    def send_json(self, topic: str, records: list[dict[str, Any]], key_field: str | None = None) -> int:
        """Publish records as JSON values, keyed by ``key_field`` when given; waits for every ack.

        Large batches and a short linger: a scoring batch sends thousands of records at once, and
        one request per 16 KB (the default) made publishing most of a batch's time.
        """
        producer = self.producer(linger_ms=50, batch_size=1 << 20)
        try:
            futures = []
            for rec in records:
                key = str(rec[key_field]).encode() if key_field and rec.get(key_field) is not None else None
                futures.append(producer.send(topic, key=key, value=json.dumps(rec, default=str).encode()))
            producer.flush()
            for fut in futures:
                fut.get(timeout=30)
            return len(futures)
        finally:
            producer.close()

"""KafkaResource against the session's real Apache Kafka 4.x broker."""

import json
import uuid

from kafka import KafkaAdminClient, TopicPartition

from orchestration.settings import Settings
from resources.kafka import KafkaResource


def _resource(settings: Settings) -> KafkaResource:
    return KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers, default_partitions=3)


def test_broker_answers_as_apache_kafka_4(kafka_env: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_env.kafka_bootstrap_servers)
    try:
        # kafka-python derives this from the broker's ApiVersions response.
        version = admin._client.check_version()
    finally:
        admin.close()
    assert version >= (4, 0), version
    assert version < (5, 0), version


def test_topic_creation_uses_configured_partitions(kafka_env: Settings) -> None:
    kafka = _resource(kafka_env)
    topic = f"t-{uuid.uuid4().hex[:8]}"
    assert kafka.ensure_topic(topic) is True
    assert kafka.ensure_topic(topic) is False  # idempotent
    assert kafka.partitions_for(topic) == [0, 1, 2]
    assert kafka.ensure_topic(f"{topic}-one", partitions=1) is True
    assert kafka.partitions_for(f"{topic}-one") == [0]


def test_produce_consume_round_trip_with_offsets(kafka_env: Settings) -> None:
    kafka = _resource(kafka_env)
    topic = f"rt-{uuid.uuid4().hex[:8]}"
    kafka.ensure_topic(topic)
    records = [{"id": i, "text": f"message {i}"} for i in range(30)]
    assert kafka.send_json(topic, records, key_field="id") == 30

    ends = kafka.end_offsets(topic)
    assert sum(ends.values()) == 30
    assert kafka.beginning_offsets(topic) == {p: 0 for p in ends}

    # Exact ranges: the same records on every read, nothing outside the range.
    ranges = {p: (0, end) for p, end in ends.items()}
    first = [(r.partition, r.offset, json.loads(r.value)["id"]) for r in kafka.read_range(topic, ranges)]
    again = [(r.partition, r.offset, json.loads(r.value)["id"]) for r in kafka.read_range(topic, ranges)]
    assert sorted(first) == sorted(again)
    assert sorted(i for _, _, i in first) == list(range(30))
    busiest = max(ends, key=ends.get)
    partial = list(kafka.read_range(topic, {busiest: (1, 3)}))
    assert [r.offset for r in partial] == [1, 2]

    # Same key, same partition: ordering per key holds.
    by_key = {}
    for partition, _, ident in first:
        by_key.setdefault(ident, set()).add(partition)
    assert all(len(parts) == 1 for parts in by_key.values())


def test_consumer_group_commits_resume_where_it_left(kafka_env: Settings) -> None:
    kafka = _resource(kafka_env)
    topic = f"cg-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex[:8]}"
    kafka.ensure_topic(topic, partitions=2)
    kafka.send_json(topic, [{"n": i} for i in range(10)])

    def drain(expected: int) -> list[int]:
        # A new group has no committed offsets: it says where to start (the default, "none", raises).
        consumer = kafka.consumer(group_id=group, auto_offset_reset="earliest")
        consumer.subscribe([topic])
        seen: list[int] = []
        for _ in range(40):
            for recs in consumer.poll(timeout_ms=500).values():
                seen.extend(json.loads(r.value)["n"] for r in recs)
            if len(seen) >= expected:
                break
        consumer.commit()
        committed = {p: consumer.committed(TopicPartition(topic, p)) for p in (0, 1)}
        consumer.close()
        assert sum(v or 0 for v in committed.values()) == sum(kafka.end_offsets(topic).values())
        return seen

    assert sorted(drain(10)) == list(range(10))
    kafka.send_json(topic, [{"n": i} for i in range(10, 15)])
    assert sorted(drain(5)) == list(range(10, 15))  # committed offsets: nothing is read twice


def test_a_topic_whose_creation_failed_is_not_remembered_as_existing(kafka_env: Settings) -> None:
    """Issue 22 (14): the cache of existing topics took a topic in even when creating it raised, so
    every later ``ensure_topic`` said "exists" and producing to it went on failing."""
    import pytest

    kafka = _resource(kafka_env)
    topic = f"bad-{uuid.uuid4().hex[:8]}"
    with pytest.raises(Exception):  # noqa: B017 - the broker's refusal, whatever kafka-python calls it
        kafka.ensure_topic(topic, config={"cleanup.policy": "not-a-policy"})
    assert topic not in KafkaAdminClient(bootstrap_servers=kafka_env.kafka_bootstrap_servers).list_topics()
    assert kafka.ensure_topic(topic) is True  # tried again, and created this time
    assert topic in kafka.admin().list_topics()

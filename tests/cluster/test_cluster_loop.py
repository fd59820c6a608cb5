"""The loop on three brokers: the suite's end-to-end loop test unchanged (stores on Postgres, disaster
cleaning on the standalone cluster), and the drill a cluster exists for — one broker SIGKILLed while
records stream in, restarted later: every offset is scored (or dead-lettered) exactly once."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from dagster import DagsterInstance
from test_kafka_drills import BATCH, coverage, drain, produced, register_champion
from test_loop_e2e import test_stream_to_labels_to_retraining  # noqa: F401 - runs against the cluster

from assets.loop.records import topic_tag
from orchestration.infra.kafka_broker import KafkaCluster
from orchestration.settings import Settings, get_settings
from orchestration.simulate import SimulationReport, simulate
from resources.kafka import KafkaResource

pytestmark = pytest.mark.cluster

RECORDS = 600


def _leader(bootstrap: str, topic: str, partition: int) -> int:
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=15)
    return meta.topics[topic].partitions[partition].leader


def test_topics_are_replicated_three_times_with_two_in_sync(kafka_env: Settings) -> None:
    kafka = KafkaResource(bootstrap_servers=kafka_env.kafka_bootstrap_servers)
    topic = kafka_env.topic("disaster")
    assert kafka.ensure_topic(topic)
    admin = AdminClient({"bootstrap.servers": kafka_env.kafka_bootstrap_servers})
    partitions = admin.list_topics(topic, timeout=15).topics[topic].partitions
    assert partitions and all(len(p.replicas) == 3 for p in partitions.values())
    assert _topic_config(admin, topic)["min.insync.replicas"].value == "2"


def _topic_config(admin: AdminClient, topic: str, seconds: float = 15.0) -> dict:
    """The topic's config, asked again while the broker answering has not yet learned of the new
    topic (KRaft propagates it to each broker's metadata a moment after creation)."""
    from confluent_kafka import KafkaError, KafkaException

    deadline = time.monotonic() + seconds
    while True:
        [future] = admin.describe_configs([ConfigResource("topic", topic)]).values()
        try:
            return future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_broker_killed_mid_stream_and_restarted_scores_every_offset_once(
    kafka_env: Settings, kafka_cluster: KafkaCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("FLYWHEEL_BATCH_SIZE", str(BATCH))
    monkeypatch.setenv("FLYWHEEL_BATCH_MAX_WAIT_SECONDS", "0")
    settings = get_settings()
    register_champion(settings, "disaster")
    kafka = KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)
    topic = settings.topic("disaster")
    kafka.ensure_topic(topic)
    defs, instance = build_definitions(), DagsterInstance.get()
    victim = _leader(settings.kafka_bootstrap_servers, topic, 0)  # partition 0 must change leader

    reports: list[SimulationReport] = []
    sender = threading.Thread(
        target=lambda: reports.append(
            simulate(settings, "disaster", RECORDS, rate=120, seed=3, poison_share=0.03)
        )
    )
    sender.start()
    time.sleep(1.5)  # records are flowing
    kafka_cluster.kill(victim)
    try:
        # Scoring goes on with two brokers (acks=all needs min.insync.replicas=2): drain while the
        # rest of the stream arrives through the new leaders.
        cursor = None
        while sender.is_alive():
            cursor, _ = drain(defs, instance, kafka, cursor)
            time.sleep(0.5)
        sender.join()
        assert reports and reports[0].sent == RECORDS
        assert _leader(settings.kafka_bootstrap_servers, topic, 0) != victim
    finally:
        kafka_cluster.restart(victim)
    cursor, _ = drain(defs, instance, kafka, cursor)
    simulate(settings, "disaster", BATCH, seed=4)  # and the restarted broker takes its share again
    cursor, _ = drain(defs, instance, kafka, cursor)

    tag = topic_tag(kafka.topic_id(topic))
    seen = coverage(settings.home)
    assert seen == produced(kafka, topic, tag)  # every offset, each exactly once
    assert len(seen) == len(set(seen)) == RECORDS + BATCH  # nothing lost, nothing written twice

"""Drills for the Kafka loop on a real broker, instance and stores: what goes wrong in production.

Each drill ends with the same account: every produced offset is in the predictions table, in the
dead-letter table (a poison message, or inside an ``expired`` / ``gap`` range) — exactly once.

- a broker stopped and restarted between ticks (its own broker, so the session's is untouched);
- a topic deleted and created again (the new topic starts from its beginning, old rows stay);
- retention: records deleted below the cursor before a tick, and inside a range between its tick
  and its run (``DeleteRecords`` moves the log start exactly as deleting segments does);
- a compacted topic with gaps (transaction markers take offsets no record holds);
- a scoring run that fails and is requested again by the rescore sensor;
- tweets scored (and queued) with their full text, not the truncated ``text``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from sensor_ticks import tick

from assets.loop.records import key_topic_tag, parse_ranges_key, topic_tag
from assets.loop.scoring import batch_slot, predictions_table
from orchestration.infra.kafka_broker import KafkaBroker, free_port
from orchestration.settings import Settings, get_settings
from orchestration.simulate import simulate
from resources.kafka import KafkaResource
from resources.mlflow_registry import MlflowRegistry, MlflowResource

BATCH = 100


def register_champion(settings: Settings, use_case: str) -> str:
    """A constant-rate baseline (instant to fit) as the use case's champion: the drills are about
    offsets, not model quality."""
    if use_case == "disaster":
        from assets.disaster.model import pip_requirements, train_majority

        labels = ["related", "request", "offer"]
        frame = pd.DataFrame({"id": ["a", "b", "c"], "message": ["x", "y", "z"], "genre": "direct"})
        model = train_majority(frame.assign(related=[1, 1, 0], request=[0, 1, 0], offer=0), labels)
    else:
        from assets.tweets.model import pip_requirements, train_prior

        frame = pd.DataFrame({"id": ["a", "b"], "text": ["ml", "cats"], "label": ["1", "0"]})
        model = train_prior(frame.assign(label_source="hand"), ["0", "1"])
    registry = MlflowRegistry(settings.mlflow_tracking_uri)
    with registry.start_run(use_case, run_name="drill") as run:
        info = mlflow.pyfunc.log_model(python_model=model, name="model", pip_requirements=pip_requirements())
    version = registry.register_version(use_case, info.model_uri, run_id=run.info.run_id)
    registry.promote(use_case, version.version, reason="drill baseline")
    return str(version.version)


def loop_resources(kafka: KafkaResource) -> dict:
    """What the Kafka sensor asks for: the broker, and the registry it resolves the champion in."""
    return {
        "kafka": kafka,
        "mlflow_registry": MlflowResource(tracking_uri=get_settings().mlflow_tracking_uri),
    }


def coverage(home: Path, use_case: str = "disaster") -> list[tuple[str, int, int]]:
    """(batch folder's topic tag, partition, offset) of every scored and dead-lettered offset."""
    seen: list[tuple[str, int, int]] = []
    for table in ("predictions", "deadletter"):
        for path in sorted((home / "tables" / use_case / table).glob("batch=*/part-0.parquet")):
            tag = path.parent.name.removeprefix("batch=").split("@")[0]
            frame = pd.read_parquet(path)
            last = frame["last_offset"] if "last_offset" in frame else frame["offset"]
            for p, first, final in zip(frame["partition"], frame["offset"], last, strict=True):
                seen.extend((tag, int(p), o) for o in range(int(first), int(final) + 1))
    return sorted(seen)


def deadletter_rows(home: Path, use_case: str = "disaster") -> pd.DataFrame:
    """Every dead-letter row of the use case so far."""
    files = sorted((home / "tables" / use_case / "deadletter").glob("*/*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def produced(kafka: KafkaResource, topic: str, tag: str, since: dict[int, int] | None = None) -> list:
    end = kafka.end_offsets(topic)
    return sorted((tag, p, o) for p, n in end.items() for o in range((since or {}).get(p, 0), n))


def drain(
    defs,
    instance: DagsterInstance,
    kafka: KafkaResource,
    cursor: str | None,
    job: str = "disaster_score",
    sensor: str = "disaster_kafka_sensor",
    ticks: int = 20,
) -> tuple[str | None, list]:
    """Tick the Kafka sensor and run what it requests until a tick requests nothing."""
    results = []
    for _ in range(ticks):
        result = tick(defs.resolve_sensor_def(sensor), instance, cursor, loop_resources(kafka))
        cursor = result.cursor or cursor
        requests = getattr(result, "run_requests", None) or []
        results.append(result)
        if not requests:
            return cursor, results
        for request in requests:
            run = defs.resolve_job_def(job).execute_in_process(
                instance=instance, partition_key=request.partition_key, raise_on_error=False
            )
            assert run.success, request.partition_key
    raise AssertionError(f"{sensor} still requesting after {ticks} ticks")


@pytest.fixture
def loop_env(kafka_env: Settings, monkeypatch):
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("FLYWHEEL_BATCH_SIZE", str(BATCH))
    monkeypatch.setenv("FLYWHEEL_BATCH_MAX_WAIT_SECONDS", "0")
    settings = get_settings()
    register_champion(settings, "disaster")
    kafka = KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)
    return settings, build_definitions(), DagsterInstance.get(), kafka


def test_broker_restart_between_ticks_scores_every_offset_once(flywheel_env: Settings, monkeypatch) -> None:
    from orchestration.definitions import build_definitions

    port = free_port()
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    monkeypatch.setenv("FLYWHEEL_BATCH_SIZE", str(BATCH))
    monkeypatch.setenv("FLYWHEEL_BATCH_MAX_WAIT_SECONDS", "0")
    monkeypatch.setenv("FLYWHEEL_KAFKA_HEAP", "384m")
    settings = get_settings()
    broker = KafkaBroker(settings)  # this test's own, under its FLYWHEEL_HOME
    broker.start(timeout=120, log=lambda _m: None)
    try:
        register_champion(settings, "disaster")
        kafka = KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)
        defs, instance = build_definitions(), DagsterInstance.get()
        simulate(settings, "disaster", 250, seed=1, poison_share=0.04)
        cursor, _ = drain(defs, instance, kafka, None)
        simulate(settings, "disaster", 150, seed=2)
        broker.stop(log=lambda _m: None)
        broker.start(timeout=120, log=lambda _m: None)
        # Straight after the restart, leaders may still be elected: such ticks skip, keeping the cursor.
        cursor, results = drain(defs, instance, kafka, cursor)
        topic = settings.topic("disaster")
        tag = topic_tag(kafka.topic_id(topic))
        assert coverage(settings.home) == produced(kafka, topic, tag)
        assert len(coverage(settings.home)) == 400
    finally:
        broker.stop(log=lambda _m: None)


def test_a_recreated_topic_starts_over_without_touching_the_old_rows(loop_env) -> None:
    from confluent_kafka.admin import AdminClient

    settings, defs, instance, kafka = loop_env
    topic = settings.topic("disaster")
    simulate(settings, "disaster", 150, seed=3)
    old_tag = topic_tag(kafka.topic_id(topic))
    cursor, _ = drain(defs, instance, kafka, None)
    old_rows = produced(kafka, topic, old_tag)

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.delete_topics([topic])[topic].result()
    deadline = time.monotonic() + 60
    while kafka.topic_id(topic) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    simulate(settings, "disaster", 60, seed=4)
    new_tag = topic_tag(kafka.topic_id(topic))
    assert new_tag != old_tag

    cursor, results = drain(defs, instance, kafka, cursor)
    resets = [e for r in results for e in (r.asset_events or []) if "reset" in e.metadata]
    assert resets and "deleted and created again" in resets[0].metadata["reset"].value
    keys = [r.partition_key for res in results for r in (getattr(res, "run_requests", None) or [])]
    assert keys and all(key_topic_tag(k) == new_tag for k in keys)
    assert coverage(settings.home) == sorted(old_rows + produced(kafka, topic, new_tag))


def test_expired_records_become_one_counted_deadletter_range(loop_env) -> None:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    settings, defs, instance, kafka = loop_env
    topic = settings.topic("disaster")
    simulate(settings, "disaster", 200, seed=5)
    tag = topic_tag(kafka.topic_id(topic))
    cursor, _ = drain(defs, instance, kafka, None)
    before = kafka.end_offsets(topic)
    simulate(settings, "disaster", 200, seed=6)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})

    def delete_below(partition: int, offset: int) -> None:
        for future in admin.delete_records([TopicPartition(topic, partition, offset)]).values():
            future.result()

    # Retention ran before the tick: 30 records of partition 0 past the cursor are gone.
    delete_below(0, before[0] + 30)
    # ... and, after this tick planned its ranges, 10 more of partition 1 before the run reads them.
    result = tick(defs.resolve_sensor_def("disaster_kafka_sensor"), instance, cursor, loop_resources(kafka))
    keys = [r.partition_key for r in result.run_requests]
    assert {0: (before[0], before[0] + 30)} in [parse_ranges_key(k) for k in keys]
    delete_below(1, before[1] + 10)
    for key in keys:
        run = defs.resolve_job_def("disaster_score").execute_in_process(instance=instance, partition_key=key)
        assert run.success
    drain(defs, instance, kafka, result.cursor)
    assert coverage(settings.home) == produced(kafka, topic, tag)
    dead = deadletter_rows(settings.home, "disaster")
    expired = dead[dead["reason"] == "expired"]
    spans = sorted(
        (int(p), int(s), int(e) + 1)
        for p, s, e in zip(expired["partition"], expired["offset"], expired["last_offset"], strict=True)
    )
    assert spans == [(0, before[0], before[0] + 30), (1, before[1], before[1] + 10)]


def test_gaps_in_a_compacted_topic_are_read_up_to_the_range_end(loop_env) -> None:
    from confluent_kafka import Producer

    settings, defs, instance, kafka = loop_env
    topic = settings.topic("disaster")
    kafka.ensure_topic(topic, config={"cleanup.policy": "compact"})
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "transactional.id": f"drill-{topic}"}
    )
    producer.init_transactions()
    messages = [
        json.dumps({"id": f"g{i}", "message": f"need water {i}", "genre": "direct"}) for i in range(90)
    ]
    for start in range(0, 90, 10):  # every transaction's commit marker takes an offset of its own
        producer.begin_transaction()
        for i in range(start, start + 10):
            producer.produce(topic, key=f"g{i}".encode(), value=messages[i].encode(), partition=i % 2)
        producer.commit_transaction()
    tag = topic_tag(kafka.topic_id(topic))
    drain(defs, instance, kafka, None)
    dead = deadletter_rows(settings.home, "disaster")
    gaps = dead[dead["reason"] == "gap"]
    assert len(gaps) and (gaps["last_offset"] >= gaps["offset"]).all()
    scored = predictions_table("disaster")
    assert sorted(scored["key"]) == sorted(f"g{i}" for i in range(90))  # every record, once
    assert coverage(settings.home) == produced(kafka, topic, tag)  # records + gaps = every offset


def test_a_failed_scoring_run_is_requested_again_until_its_range_is_scored(loop_env, monkeypatch) -> None:
    settings, defs, instance, kafka = loop_env
    monkeypatch.setenv("FLYWHEEL_RESCORE_GRACE_SECONDS", "0")
    topic = settings.topic("disaster")
    simulate(settings, "disaster", 100, seed=7)
    tag = topic_tag(kafka.topic_id(topic))
    result = tick(defs.resolve_sensor_def("disaster_kafka_sensor"), instance, None, loop_resources(kafka))
    [request] = result.run_requests
    blocker = settings.home / "tables/disaster/predictions" / f"batch={batch_slot(request.partition_key)}"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("taken: the step cannot write its partition\n")
    job = defs.resolve_job_def("disaster_score")
    failed = job.execute_in_process(
        instance=instance, partition_key=request.partition_key, raise_on_error=False
    )
    assert not failed.success

    rescore = defs.resolve_sensor_def("disaster_rescore_sensor")
    again = tick(rescore, instance, None, {})
    [retry] = again.run_requests
    assert retry.partition_key == request.partition_key and failed.run_id in retry.run_key
    blocker.unlink()
    assert job.execute_in_process(instance=instance, partition_key=retry.partition_key).success
    assert not getattr(tick(rescore, instance, again.cursor, {}), "run_requests", None)
    assert coverage(settings.home) == produced(kafka, topic, tag)
    runs = instance.get_runs(RunsFilter(tags={"dagster/partition": request.partition_key}))
    assert sorted(r.status.value for r in runs) == sorted(
        [DagsterRunStatus.FAILURE.value, DagsterRunStatus.SUCCESS.value]
    )

    # The output topics keep one value per record: compacted, keyed <topic>:<partition>:<offset>.
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    out = settings.topic("disaster", "predictions")
    [config] = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, out)]).values()
    assert config.result()["cleanup.policy"].value == "compact"
    first = next(iter(kafka.read_range(out, {0: (0, 1)})))
    assert first.key == json.loads(first.value)["id"] and first.key.startswith(f"{topic}:")


def test_tweets_are_scored_and_queued_with_their_full_text(kafka_env: Settings, monkeypatch) -> None:
    from orchestration.definitions import build_definitions
    from resources.annotation_store import AnnotationStore

    monkeypatch.setenv("FLYWHEEL_BATCH_SIZE", "2")
    register_champion(kafka_env, "tweets")
    kafka = KafkaResource(bootstrap_servers=kafka_env.kafka_bootstrap_servers)
    topic = kafka_env.topic("tweets", "raw")
    kafka.ensure_topic(topic)
    full = "Gradient boosting beats deep nets on tabular data again, a thread on why " + "x" * 120
    tweet = {
        "id_str": "9001",
        "text": full[:100] + "… https://t.co/abc",
        "truncated": True,
        "extended_tweet": {"full_text": full, "entities": {"urls": []}},
        "user": {"screen_name": "someone"},
    }
    notice = {"delete": {"status": {"id_str": "1"}}}
    kafka.send_json(topic, [tweet, notice])
    defs, instance = build_definitions(), DagsterInstance.get()
    drain(defs, instance, kafka, None, job="tweets_score", sensor="tweets_kafka_sensor")
    [queued] = AnnotationStore(kafka_env.database_url).queue("tweets")
    assert queued["payload"]["text"] == full  # what the annotator labels is what the model scored
    dead = deadletter_rows(kafka_env.home, "tweets")
    assert dead["reason"].str.startswith("not_a_record").tolist() == [True]

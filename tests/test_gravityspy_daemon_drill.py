"""The poison drill through the real daemon (issue 22, acceptance): a gravityspy batch of 50 records,
one with grids of the wrong shape and one decompression bomb, is scored 48 + 2 dead-lettered by the
daemon's own scoring run, and nothing asks for that partition again (no rescore loop)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from test_gravityspy_images import decompression_bomb
from test_gravityspy_pipeline import Pipeline, env, pipeline  # noqa: F401 - the module's own champion

from assets.gravityspy.records import ENERGY_COLUMNS, VIEW_COLUMNS
from orchestration.infra.kafka_broker import free_port
from orchestration.serve import Server
from orchestration.settings import get_settings
from orchestration.simulate import simulate
from resources.kafka import KafkaResource

DEADLINE_SECONDS = 300
QUIET_SECONDS = 20  # ten sensor intervals after the batch: time for a rescore loop to show


def _send_poison(topic: str, kafka: KafkaResource) -> None:
    short = {"id": "short", "ifo": "H1", **{c: [0.1] * 100 for c in ENERGY_COLUMNS}}
    bomb = {
        "id": "bomb",
        "ifo": "L1",
        **dict.fromkeys(VIEW_COLUMNS, base64.b64encode(decompression_bomb()).decode()),
    }
    producer = kafka.producer(max_request_size=8 << 20)
    for record in (short, bomb):
        producer.send(topic, key=record["id"].encode(), value=json.dumps(record).encode())
    producer.flush()
    producer.close()


def _covered(home: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    tables = home / "tables/gravityspy"
    read = [pd.read_parquet(p) for p in sorted((tables / "predictions").rglob("*.parquet"))]
    dead = [pd.read_parquet(p) for p in sorted((tables / "deadletter").rglob("*.parquet"))]
    return (pd.concat(read) if read else pd.DataFrame(), pd.concat(dead) if dead else pd.DataFrame())


def test_the_daemon_scores_48_and_dead_letters_2_without_a_rescore_loop(
    pipeline: Pipeline,  # noqa: F811
    monkeypatch,
    tmp_path: Path,
) -> None:
    for name, value in {
        "FLYWHEEL_BATCH_SIZE": "50",
        "FLYWHEEL_BATCH_MAX_WAIT_SECONDS": "3",
        "FLYWHEEL_SENSOR_INTERVAL_SECONDS": "2",
        "FLYWHEEL_RESCORE_GRACE_SECONDS": "5",
        "FLYWHEEL_TOPIC_PREFIX": f"d{uuid.uuid4().hex[:10]}.",  # a topic of its own: the 50 records only
    }.items():
        monkeypatch.setenv(name, value)
    settings = get_settings()
    kafka = KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)
    topic = settings.topic("gravityspy")
    source = str(pipeline.root / "Koi_Fish")
    assert simulate(settings, "gravityspy", 24, seed=3, source=source).sent == 24  # creates the topic
    _send_poison(topic, kafka)
    assert simulate(settings, "gravityspy", 24, seed=4, source=source).sent == 24
    assert sum(kafka.end_offsets(topic).values()) == 50

    instance = DagsterInstance.get()
    logs: list[str] = []
    server = Server(
        settings, port=free_port(), sensors_on=True, log=logs.append, grace_seconds=15, log_dir=tmp_path
    )
    started = time.monotonic()
    try:
        server.start()
        predictions, dead = _covered(settings.home)
        while time.monotonic() - started < DEADLINE_SECONDS and len(predictions) + len(dead) < 50:
            server.check_children()
            time.sleep(0.5)
            predictions, dead = _covered(settings.home)
        done = time.monotonic() - started
        time.sleep(QUIET_SECONDS)  # the daemon keeps ticking the Kafka and rescore sensors
        runs = instance.get_runs(RunsFilter(job_name="gravityspy_score"))
    finally:
        server.stop()
    print("\n".join(logs))
    assert len(predictions) == 48 and len(dead) == 2, f"after {done:.0f}s: {len(predictions)} + {len(dead)}"
    reasons = sorted(dead["reason"])
    assert reasons[0].startswith("not_a_record: wrong_shape") and "wrong_size" in reasons[1], reasons
    # One run, launched by the daemon from the Kafka sensor, succeeded; nothing asked again.
    assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS], [(r.status, r.tags) for r in runs]
    assert runs[0].tags.get("dagster/sensor_name") == "gravityspy_kafka_sensor"

"""Drift as users meet it: a real ``dagster-daemon`` and code server (``flywheel serve``'s own
processes), the sensors on, 2,000 disaster records streamed with a planted shift after 1,000.

The first 1,000 are the usual mix of public messages the champion never saw (news, direct and
social); the next 1,000 are ``genre == social`` only: short posts from another source. Each scored
batch of 200 gets its ``disaster_drift`` step. The shifted batches must all be flagged and the
unshifted ones not, and the retrain sensor must request ``disaster_retrain`` for drift exactly once,
naming one of the first shifted batches, and never while the stream was unshifted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
from dagster import AssetKey, DagsterInstance, RunsFilter
from test_disaster_lifecycle import FAST_TRAINER, SHARED, land_slice, run_pipeline

from assets.loop.records import parse_ranges_key
from assets.loop.scoring import predictions_table
from orchestration.infra.kafka_broker import free_port
from orchestration.serve import Server
from orchestration.settings import Settings, get_settings
from resources.kafka import KafkaResource

BATCH, HALF, NEEDED = 200, 1000, 3
DEADLINE_SECONDS = 480


def _drift_states(instance: DagsterInstance) -> list[tuple[str, bool]]:
    """(partition, drifted) of every drift materialization, oldest first."""
    found = instance.fetch_materializations(AssetKey("disaster_drift"), limit=1000, ascending=True).records
    return [
        (r.asset_materialization.partition, bool(r.asset_materialization.metadata["drifted"].value))
        for r in found
        if r.asset_materialization is not None and "drifted" in r.asset_materialization.metadata
    ]


def _is_shifted(partition: str, shift_starts: dict[int, int]) -> bool:
    """Whether a batch's offsets come after the shift (a batch never straddles it: the unshifted half
    is scored before the shift is produced)."""
    ranges = parse_ranges_key(partition)
    return all(start >= shift_starts[p] for p, (start, _end) in ranges.items())


def _drift_runs(instance: DagsterInstance):
    return instance.get_runs(RunsFilter(job_name="disaster_retrain", tags={"flywheel/trigger": "drift"}))


def _unseen_messages(settings: Settings) -> pd.DataFrame:
    """Public messages that were not landed: the champion never saw them, as with a real stream."""
    landed = set(pd.read_csv(Path(settings.landing) / "disaster" / "disaster_messages.csv", dtype=str)["id"])
    messages = pd.read_csv(SHARED / "disaster_messages.csv", dtype=str, keep_default_na=False)
    return messages[~messages["id"].isin(landed) & (messages["message"].str.strip() != "")]


def _produce(settings: Settings, messages: pd.DataFrame, prefix: str) -> None:
    """The messages as records, in the shape the champion takes."""
    kafka = KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)
    kafka.ensure_topic(settings.topic("disaster"))
    keys, values = [], []
    for i, row in enumerate(messages.to_dict(orient="records")):
        record = {"id": f"{prefix}-{i}", "message": row["message"], "genre": row["genre"], "original": None}
        keys.append(record["id"].encode())
        values.append(json.dumps(record).encode())
    kafka.send_raw(settings.topic("disaster"), keys, values)


def test_daemon_flags_planted_drift_and_requests_one_retraining(
    kafka_env: Settings, monkeypatch, tmp_path: Path
) -> None:
    for name, value in {
        "FLYWHEEL_BATCH_SIZE": str(BATCH),
        "FLYWHEEL_BATCH_MAX_WAIT_SECONDS": "3",
        "FLYWHEEL_SENSOR_INTERVAL_SECONDS": "2",
        "FLYWHEEL_DRIFT_BATCHES": str(NEEDED),
    }.items():
        monkeypatch.setenv(name, value)
    land_slice(kafka_env)
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    instance = DagsterInstance.get()
    assert run_pipeline(defs, instance, [FAST_TRAINER]).success  # champion v1
    unseen = _unseen_messages(kafka_env)
    _produce(kafka_env, unseen.sample(n=HALF, random_state=31), "mix")  # news, direct and social

    logs: list[str] = []
    server = Server(
        get_settings(), port=free_port(), sensors_on=True, log=logs.append, grace_seconds=15, log_dir=tmp_path
    )
    started = time.monotonic()
    topic = kafka_env.topic("disaster")
    kafka = KafkaResource(bootstrap_servers=kafka_env.kafka_bootstrap_servers)
    shift_starts: dict[int, int] | None = None
    shifted_at, requested = 0.0, None
    try:
        server.start()
        while time.monotonic() - started < DEADLINE_SECONDS:
            server.check_children()
            scored = len(predictions_table("disaster", columns=["offset"]))
            if shift_starts is None and scored >= HALF:
                assert not _drift_runs(instance), "a drift retraining was requested before the shift"
                shift_starts, shifted_at = kafka.end_offsets(topic), time.monotonic()
                social = unseen[unseen["genre"] == "social"]
                _produce(
                    kafka_env, social.sample(n=HALF, random_state=3, replace=len(social) < HALF), "shift"
                )
                logs.append(f"unshifted half scored in {time.monotonic() - started:.0f}s; shift produced")
            if shift_starts is not None and requested is None and _drift_runs(instance):
                requested = sum(1 for p, d in _drift_states(instance) if d and _is_shifted(p, shift_starts))
                logs.append(
                    f"drift retraining requested {time.monotonic() - shifted_at:.0f}s after the shift, "
                    f"{requested} shifted batch(es) scored by then"
                )
            if shift_starts is not None and scored >= 2 * HALF and _drift_runs(instance):
                time.sleep(12)  # a few more sensor ticks: the streak goes on, no second request
                break
            time.sleep(1)
    finally:
        server.stop()
    states = _drift_states(instance)
    print("\n".join(logs + [f"{p} drifted={d}" for p, d in states]))

    assert shift_starts is not None, f"the unshifted half was not scored in {DEADLINE_SECONDS}s"
    shifted = [(p, d) for p, d in states if _is_shifted(p, shift_starts)]
    unshifted = [(p, d) for p, d in states if not _is_shifted(p, shift_starts)]
    assert sum(1 for _ in unshifted) >= HALF // BATCH and len(shifted) >= HALF // BATCH, states
    assert not any(d for _p, d in unshifted), "an unshifted batch read as drifted"
    flagged = [d for _p, d in shifted]
    assert all(flagged), f"shifted batches flagged: {flagged}"
    runs = _drift_runs(instance)
    assert len(runs) == 1, [r.tags for r in runs]
    # Requested by the daemon's retrain sensor, naming the first drifted batch of the streak, which
    # is among the first shifted batches scored ("within a few batches").
    assert runs[0].tags["dagster/sensor_name"] == "disaster_retrain_sensor"
    assert runs[0].tags["flywheel/drift_since"] in [p for p, _d in shifted[:NEEDED]]
    # Each batch has its report; each drifted one's figure went to the champion's MLflow run.
    assert len(list((kafka_env.home / "monitoring/disaster/drift").glob("*.html"))) == len(states)
    from resources.mlflow_registry import MlflowResource

    registry = MlflowResource(tracking_uri=kafka_env.mlflow_tracking_uri).registry()
    run_id = registry.client.get_model_version("disaster", "1").run_id
    logged = registry.client.list_artifacts(run_id, "drift")
    by_v1 = [json.loads(f.read_text()) for f in (kafka_env.home / "monitoring/disaster/drift").glob("*.json")]
    assert len(logged) == sum(1 for b in by_v1 if b["drifted"] and b["model_version"] == "1") > 0

"""The whole loop on a real broker, Dagster instance, MLflow registry and annotation store:
simulate → Kafka sensor → scored partitions (every offset exactly once, also after a re-run) →
budgeted uncertain samples in the queue → labels through the page's HTTP API → retrain sensor →
retraining with the labels in the training set and never in the holdout."""

import json

import numpy as np
import pandas as pd
from dagster import AssetKey, DagsterInstance
from sensor_ticks import tick
from starlette.testclient import TestClient
from test_disaster_lifecycle import FAST_TRAINER, land_slice, run_pipeline

from apps.annotate.cli import build_app, trained_label_sets
from assets.lifecycle.factory import materialized_path
from assets.loop.factory import PROBA_PREFIX, predictions_table
from assets.loop.records import parse_ranges_key
from assets.loop.uncertainty import multilabel_scores
from orchestration.settings import Settings, get_settings
from orchestration.simulate import simulate
from resources.annotation_store import AnnotationStore
from resources.kafka import KafkaResource
from resources.mlflow_registry import MlflowResource

RECORDS, BATCH, BUDGET = 300, 100, 20
#: The exact-queue checks below follow one uncertainty strategy with no audit share (the audit share
#: and disaster's random default are tested in test_live_quality and test_audit_and_streak).
ENTROPY_ONLY = {
    "ops": {"disaster_annotation_candidates": {"config": {"strategy": "entropy", "audit_share": 0.0}}}
}


def _tick(defs, name: str, instance: DagsterInstance, cursor: str | None, resources: dict):
    return tick(defs.resolve_sensor_def(name), instance, cursor, resources)


def test_stream_to_labels_to_retraining(kafka_env: Settings, monkeypatch) -> None:
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("FLYWHEEL_BATCH_SIZE", str(BATCH))
    # The label-count condition alone: the simulator replays training rows, whose answers the drift
    # step (tested in test_drift_daemon) may read as drift against validation answers.
    monkeypatch.setenv("FLYWHEEL_DRIFT_BATCHES", "0")
    land_slice(kafka_env)
    defs = build_definitions()
    instance = DagsterInstance.get()
    assert run_pipeline(defs, instance, [FAST_TRAINER]).success  # champion v1

    report = simulate(get_settings(), "disaster", RECORDS, seed=5, poison_share=0.05)
    assert report.sent == RECORDS and report.poison > 0
    kafka = KafkaResource(bootstrap_servers=kafka_env.kafka_bootstrap_servers)
    resources = {
        "kafka": kafka,
        "mlflow_registry": MlflowResource(tracking_uri=kafka_env.mlflow_tracking_uri),
    }

    first = _tick(defs, "disaster_kafka_sensor", instance, None, resources)
    keys = [r.partition_key for r in first.run_requests]
    assert len(keys) == RECORDS // BATCH
    # Each tick records the topic's lag (records not handed to a run) for the UI's plots.
    [lag] = first.asset_events
    assert lag.asset_key.path == ["disaster_scored_batch"]
    assert lag.metadata["consumer_lag"].value == 0 and lag.metadata["runs_requested"].value == len(keys)
    retried = _tick(defs, "disaster_kafka_sensor", instance, None, resources)
    assert [r.run_key for r in retried.run_requests] == [r.run_key for r in first.run_requests]
    assert not getattr(
        _tick(defs, "disaster_kafka_sensor", instance, first.cursor, resources), "run_requests", []
    )

    score = defs.resolve_job_def("disaster_score")
    for key in keys:
        result = score.execute_in_process(instance=instance, partition_key=key, run_config=ENTROPY_ONLY)
        assert result.success
        meta = result.asset_materializations_for_node("disaster_scored_batch")[0].metadata
        assert meta["rows_in"].value == BATCH and meta["model_version"].value == "1"
        assert meta["rows_scored"].value + meta["rows_deadlettered"].value == BATCH
        assert 0 < meta["latency_p50_s"].value <= meta["latency_p95_s"].value

    def coverage() -> tuple[pd.DataFrame, pd.DataFrame]:
        predictions = predictions_table("disaster")
        dead = pd.concat(
            [
                pd.read_parquet(p)
                for p in sorted((kafka_env.home / "tables/disaster/deadletter").glob("*/*.parquet"))
            ]
        )
        return predictions, dead

    predictions, dead = coverage()
    assert len(dead) == report.poison and len(predictions) == RECORDS - report.poison
    seen = list(zip(predictions["partition"], predictions["offset"], strict=True)) + list(
        zip(dead["partition"], dead["offset"], strict=True)
    )
    end = kafka.end_offsets(kafka_env.topic("disaster"))
    assert sorted(seen) == sorted((p, o) for p, n in end.items() for o in range(n))  # each exactly once
    assert set(dead["reason"].str.split(":").str[0]) <= {"not_json", "missing_fields"}
    assert (predictions["model_version"] == "1").all()

    # A forced re-run of a partition rewrites its rows: still every offset exactly once.
    assert score.execute_in_process(instance=instance, partition_key=keys[1], run_config=ENTROPY_ONLY).success
    again, dead_again = coverage()
    assert len(again) == len(predictions) and len(dead_again) == len(dead)
    assert not again.duplicated(["partition", "offset"]).any()

    # The queue holds each batch's BUDGET most uncertain records, most uncertain first.
    store = AnnotationStore(kafka_env.database_url)
    queue = store.queue("disaster", limit=1000)
    assert len(queue) == BUDGET * len(keys)
    proba_cols = [c for c in again.columns if c.startswith(PROBA_PREFIX)]
    again["score"] = multilabel_scores(again[proba_cols].to_numpy(), "entropy", "mean")
    again["batch"] = [
        next(k for k in keys if _in(k, p, o))
        for p, o in zip(again["partition"], again["offset"], strict=True)
    ]
    ranked = again.sort_values("score", ascending=False, kind="stable")  # ties: earlier record first
    expected = set(ranked.groupby("batch").head(BUDGET)["key"])
    assert {q["sample_id"] for q in queue} == expected
    assert [q["score"] for q in queue] == sorted((q["score"] for q in queue), reverse=True)
    # Each queued record carries the champion's answer, pre-selected on the page.
    by_key = again.set_index("key")
    for item in queue[:5]:
        suggestion = item["suggestion"]
        assert suggestion["prediction"] == json.loads(by_key.loc[item["sample_id"], "prediction"])
        assert suggestion["probabilities"]["related"] == round(
            float(by_key.loc[item["sample_id"], f"{PROBA_PREFIX}related"]), 4
        )

    # Labels through the page's HTTP API (token required), then the retrain sensor fires.
    token = "loop-test-token"
    app = build_app(token, trained_label_sets(kafka_env), settings=kafka_env)
    client = TestClient(app, base_url="http://127.0.0.1:8765")  # the page answers loopback hosts only
    refused = client.post(
        "/api/disaster/labels", json={"sample_id": queue[0]["sample_id"], "label": ["related"]}
    )
    assert refused.status_code == 401
    needed = 50
    headers = {"Authorization": f"Bearer {token}"}
    for item in queue[:needed]:
        answer = {"sample_id": item["sample_id"], "label": ["related", "request"], "annotator": "tester"}
        assert client.post("/api/disaster/labels", json=answer, headers=headers).status_code == 201

    retrain = _tick(defs, "disaster_retrain_sensor", instance, None, {"annotations": _annotations(kafka_env)})
    [request] = retrain.run_requests
    assert request.tags["flywheel/new_labels"] == str(needed)
    assert not getattr(
        _tick(
            defs,
            "disaster_retrain_sensor",
            instance,
            retrain.cursor,
            {"annotations": _annotations(kafka_env)},
        ),
        "run_requests",
        [],
    )

    # The requested run: the labels join the training set, never the frozen holdout.
    config = {"ops": {"disaster_challenger": {"config": {"trainers": [FAST_TRAINER]}}}}
    run = defs.resolve_job_def(request.job_name or "disaster_retrain").execute_in_process(
        instance=instance, run_config=config, raise_on_error=False
    )
    assert run.success
    training_path = materialized_path(instance, AssetKey("disaster_training_set"), "training_set_path")
    assert run.run_id in training_path.parts  # this run's own training set
    training = pd.read_parquet(training_path)
    holdout = pd.read_parquet(kafka_env.home / "lifecycle/disaster/holdout/holdout-v1.parquet")
    labelled = {q["sample_id"] for q in queue[:needed]}
    # Simulated records re-emit clean messages under new ids: a copy of a holdout message is never
    # trained on, whatever its id (content compared casefolded, whitespace collapsed).
    held_texts = {" ".join(str(m).casefold().split()) for m in holdout["message"]}
    copies = {
        q["sample_id"]
        for q in queue[:needed]
        if " ".join(q["payload"]["message"].casefold().split()) in held_texts
    }
    trained_ids = set(training["id"].astype(str))
    assert labelled - copies <= trained_ids and copies.isdisjoint(trained_ids)
    assert labelled.isdisjoint(set(holdout["id"].astype(str)))
    meta = instance.get_latest_materialization_event(AssetKey("disaster_training_set")).asset_materialization
    assert meta.metadata["annotated_rows_holdout_content"].value == len(copies)
    labelled -= copies
    rows = training[training["id"].astype(str).isin(labelled)]
    assert (rows["related"] == 1).all() and (rows["request"] == 1).all() and (rows["offer"] == 0).all()
    assert json.loads((kafka_env.home / "lifecycle/disaster/labels.json").read_text())["task"] == "multilabel"
    assert np.isfinite(again["score"]).all()


def _in(key: str, partition: int, offset: int) -> bool:
    start, end = parse_ranges_key(key).get(partition, (0, 0))
    return start <= offset < end


def _annotations(settings: Settings):
    from resources.annotation_store import AnnotationStoreResource

    return AnnotationStoreResource(database_url=settings.database_url)

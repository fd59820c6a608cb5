"""Sparkify end to end on a real Dagster instance, Spark, GX, MLflow, SQLite and Kafka broker:
generated logs with known churn (one big file, as the 128 MB sample comes) → ingest with quarantine →
GX checks → user features → holdout by user → champion → customers database → simulated events on
``sparkify.events`` → each batch's users rescored from their history → outcome-counting retrain sensor.
"""

import datetime as dt
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from dagster import AssetKey, DagsterInstance
from sensor_ticks import tick

from assets.lifecycle.factory import materialized_path
from assets.loop.factory import PROBA_PREFIX, predictions_table
from assets.loop.scoring import tables
from assets.sparkify import customers as db
from assets.sparkify.generator import generate
from assets.sparkify.stream import score_with_history
from orchestration.settings import Settings, get_settings
from orchestration.simulate import simulate
from resources.kafka import KafkaResource
from resources.mlflow_registry import CHAMPION, MlflowRegistry, MlflowResource

USERS, DAYS, EVENTS, BATCH = 160, 45, 240, 120
START = dt.datetime(2018, 10, 1, tzinfo=dt.UTC)


def _land(settings: Settings, tmp: Path) -> int:
    """Generated daily files joined into one big file, plus three bad lines; returns the lines."""
    generate(tmp, USERS, DAYS, seed=3, start=START)
    lines = [line for f in sorted((tmp / "log_data").rglob("*.json")) for line in f.read_text().split("\n")]
    lines += ["{broken", json.dumps({"ts": 1, "auth": "Logged In", "userId": ""}), lines[5]]
    folder = Path(settings.landing) / "sparkify"
    folder.mkdir(parents=True)
    (folder / "mini_sparkify_event_data.json").write_text("\n".join(lines))
    return len(lines)


def test_sparkify_pipeline_and_loop(kafka_env: Settings, tmp_path: Path, monkeypatch) -> None:
    from orchestration.definitions import build_definitions
    from resources import build_resources

    monkeypatch.setenv("FLYWHEEL_BATCH_SIZE", str(BATCH))
    lines = _land(kafka_env, tmp_path / "generated")
    defs = build_definitions()
    instance = DagsterInstance.get()
    module = __import__("assets.sparkify.definitions", fromlist=["discover"])
    [key] = module.discover(instance, build_resources(resolved=True))
    ingest = defs.resolve_job_def("sparkify_ingest").execute_in_process(instance=instance, partition_key=key)
    meta = ingest.asset_materializations_for_node("sparkify_file")[0].metadata
    assert meta["rows_in"].value == lines == meta["rows_kept"].value + meta["rows_quarantined"].value
    assert meta["quarantined_not_json"].value == 1 and meta["quarantined_duplicate_event"].value == 1
    assert meta["quarantined_logged_in_without_user"].value == 1 and meta["anonymous_events"].value > 0

    config = {"ops": {"sparkify_challenger": {"config": {"trainers": ["hist_gradient_boosting"]}},
                      "sparkify_user_features": {"config": {"buckets": 4}}}}  # fmt: skip
    train = defs.resolve_job_def("sparkify_train").execute_in_process(
        instance=instance, run_config=config, raise_on_error=False
    )
    checks = {e.check_name: e.passed for e in train.get_asset_check_evaluations()}
    assert checks == dict.fromkeys(
        ["sparkify_ts_plausible", "sparkify_known_values", "sparkify_song_length_positive",
         "sparkify_event_key_unique", "sparkify_promotion_gate"], True,
    ), checks  # fmt: skip
    assert train.success
    registry = MlflowRegistry(kafka_env.mlflow_tracking_uri)
    champion = registry.get_alias("sparkify", CHAMPION)
    assert str(champion.version) == "1" and 0 < float(champion.tags["holdout_pr_auc"]) <= 1
    assert float(champion.tags["holdout_roc_auc"]) > 0.5
    # The holdout is by user: no user has rows on both sides.
    holdout = pd.read_parquet(kafka_env.home / "lifecycle" / "sparkify" / "holdout" / "holdout-v1.parquet")
    training = pd.read_parquet(
        materialized_path(instance, AssetKey("sparkify_training_set"), "training_set_path")
    )
    assert set(holdout["userId"]).isdisjoint(training["userId"]) and len(holdout) and len(training)
    # The customers database has every user with the champion's risk.
    url = get_settings().database_url
    events = pd.read_parquet(kafka_env.home / "tables" / "sparkify" / "events", columns=["userId"])
    assert db.count(url) == events["userId"].nunique() > USERS * 0.8
    riskiest = db.at_risk(url, min_risk=0.0, limit=5)
    assert riskiest["churn_probability"].is_monotonic_decreasing and (riskiest["model_version"] == "1").all()

    # The loop: events from the landed users, scored on their history.
    report = simulate(get_settings(), "sparkify", EVENTS, seed=9)
    assert report.sent == EVENTS and report.topic.endswith("sparkify.events")
    resources = {
        "kafka": KafkaResource(bootstrap_servers=kafka_env.kafka_bootstrap_servers),
        "mlflow_registry": MlflowResource(tracking_uri=kafka_env.mlflow_tracking_uri),
    }
    first = tick(defs.resolve_sensor_def("sparkify_kafka_sensor"), instance, None, resources)
    keys = [r.partition_key for r in first.run_requests]
    assert len(keys) == EVENTS // BATCH
    score = defs.resolve_job_def("sparkify_score")
    for key in keys:
        result = score.execute_in_process(instance=instance, partition_key=key)
        assert result.success
        batch = result.asset_materializations_for_node("sparkify_scored_batch")[0].metadata
        assert batch["rows_scored"].value + batch["rows_deadlettered"].value == BATCH
    predictions = predictions_table("sparkify")
    records = pd.DataFrame([json.loads(r) for r in predictions["record"]])
    assert len(predictions) == len(records) > 0 and predictions["key"].is_unique
    # Every record of a user in a batch carries that user's one risk, from history + batch, as of the
    # batch's latest ts: recomputed here through the pyfunc, batch by batch, the same numbers.
    mlflow.set_tracking_uri(kafka_env.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model("models:/sparkify/1")
    files = sorted(tables("sparkify", "predictions").glob("batch=*/*.parquet"))
    assert len(files) == len(keys)
    for path in files:
        scored = pd.read_parquet(path)
        batch_records = pd.DataFrame([json.loads(r) for r in scored["record"]])
        per_user = scored.groupby(batch_records["userId"].to_numpy())[f"{PROBA_PREFIX}churn"].nunique()
        assert (per_user == 1).all()
        again = score_with_history(model, batch_records)
        np.testing.assert_allclose(again["churn"].to_numpy(), scored[f"{PROBA_PREFIX}churn"].to_numpy())
    # Delayed ground truth: the retrain sensor counts resolved outcomes, not page labels.
    retrain = tick(
        defs.resolve_sensor_def("sparkify_retrain_sensor"), instance, None, build_resources(resolved=True)
    )
    assert "outcome(s) resolved" in str(getattr(retrain, "skip_message", retrain))

"""Sewer-flow anomalies (issue 14): parsing, the pyfunc contract (causal, scale-free, any series),
per-type recall on injected anomalies, the chunk classifiers, scoring with history from the readings
table, and the pipeline through a real Dagster instance, Spark, GX and MLflow.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance

from assets.flow import model as M
from assets.flow.generator import TYPES, as_labelled_frame, generate_series, write_series
from assets.flow.metrics import evaluation_metrics
from assets.flow.nab import Corpus
from assets.flow.parsing import detect_layout, parse_times
from orchestration.settings import Settings, get_settings
from resources.kafka import KafkaRecord

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flow"


def _split(frame: pd.DataFrame, fraction: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first and the last ``fraction`` of each series' time (the temporal holdout)."""
    from assets.lifecycle.holdout import in_time_holdout

    held = in_time_holdout(frame["time"], frame["series"], fraction)
    return frame[~held], frame[held]


@pytest.fixture(scope="module")
def generated() -> pd.DataFrame:
    return as_labelled_frame(generate_series(8, 6, seed=5, per_day=1.0))


@pytest.fixture(scope="module")
def gbm(generated: pd.DataFrame) -> M.FlowModel:
    train, _ = _split(generated)
    return M.train_gbm(train, M.LABELS, seed=0, max_iter=60)


def test_times_in_every_format_and_the_configured_zone() -> None:
    values = pd.Series(
        [
            "2020-01-01 00:05:00",
            "2020-01-01T00:05",
            "01/01/2020 00:05",
            "2020-01-01T00:05:00Z",
            "1577837100",
            "x",
        ]
    )
    utc = parse_times(values, "UTC")
    assert utc.iloc[:5].nunique() == 1 and utc.iloc[0] == pd.Timestamp("2020-01-01 00:05", tz="UTC")
    assert pd.isna(utc.iloc[5])
    warsaw = parse_times(values, "Europe/Warsaw")
    assert warsaw.iloc[0] == pd.Timestamp("2019-12-31 23:05", tz="UTC")  # naive: local wall clock
    assert warsaw.iloc[3] == utc.iloc[3]  # an explicit offset is kept
    assert detect_layout(["series", "timestamp", "value"]).series == "series"
    assert detect_layout(["time", "raw", "corrected"]).corrected == "corrected"
    assert detect_layout(["time", "speed"]) is None


def test_contract_causal_and_scale_free(gbm: M.FlowModel, generated: pd.DataFrame) -> None:
    _, held = _split(generated)
    records = held[["series", "time", "value"]].sample(frac=1.0, random_state=1)  # any order of rows
    out = gbm.predict(None, records)
    assert list(out.columns) == ["normal", "anomaly", "prediction"] and len(out) == len(records)
    assert np.allclose(out["normal"] + out["anomaly"], 1.0)
    assert ((out["anomaly"] > 0.5) == (out["prediction"] == "anomaly")).all()
    # Causal: cut every series after its k-th reading; the first k rows score exactly the same.
    one = held[held["series"] == held["series"].iloc[0]].sort_values("time")
    full = gbm.predict(None, one[["series", "time", "value"]])
    for k in (1, 5, 80, len(one) // 2):
        cut = gbm.predict(None, one[["series", "time", "value"]].iloc[:k])
        pd.testing.assert_frame_equal(cut, full.iloc[:k].reset_index(drop=True))
    # Scale-free: the same site in other units (x1000) gets the same predictions.
    scaled = gbm.predict(None, records.assign(value=records["value"] * 1000))
    assert (scaled["prediction"] == out["prediction"]).all()
    assert np.allclose(scaled["anomaly"], out["anomaly"], atol=1e-6)
    # A never-seen series: its first readings are low-confidence, unreadable rows are no error.
    fresh = pd.DataFrame(
        {"series": ["new"] * 4, "value": [5.0, 0.0, 3.0, "n/a"],
         "time": ["2024-05-01 00:00", "2024-05-01 00:05", "garbage", "2024-05-01 00:10"]}
    )  # fmt: skip
    answer = gbm.predict(None, fresh)
    assert len(answer) == 4 and answer["anomaly"].iloc[0] == 0.5
    assert (np.abs(answer["anomaly"] - 0.5) <= 0.5 / M.WARMUP + 1e-9).all()


def test_per_type_recall_on_injected_anomalies(gbm: M.FlowModel, generated: pd.DataFrame) -> None:
    _, held = _split(generated)
    found = evaluation_metrics(held, gbm.predict(None, held[["series", "time", "value"]]))
    zero = evaluation_metrics(held, M.train_zero_only(held, M.LABELS, 0).predict(None, held))
    types = {k.removeprefix("recall_") for k in found if k.startswith("recall_")}
    assert types and types <= set(TYPES)
    assert found["recall_dropout"] >= 0.8  # zeros are the easy kind
    assert found["point_f1"] > zero["point_f1"] + 0.1  # and the detector finds more than zeros
    assert found["recall_stuck"] >= 0.5  # a stuck sensor: a flat run no real flow has
    assert found["event_recall"] > zero["event_recall"]


def test_chunk_classifier_trains_and_honours_the_contract(generated: pd.DataFrame) -> None:
    """The seed's FCN (the LSTM shares the training code and the window input) at one epoch."""
    one = generated[generated["series"] == generated["series"].iloc[0]]
    train, held = _split(one)
    net = M.train_torch(train, M.LABELS, seed=0, arch="fcn", epochs=1, max_windows=200)
    first = held.sort_values("time")[["series", "time", "value"]]
    out = net.predict(None, first)
    assert len(out) == len(held) and set(out["prediction"]) <= {"anomaly", "normal"}
    cut = net.predict(None, first.iloc[:30])
    np.testing.assert_allclose(cut["anomaly"], out["anomaly"].iloc[:30], atol=1e-6)


class Loaded:
    """The trained model as ``mlflow.pyfunc.load_model`` hands it to the scorer: ``predict(frame)``."""

    def __init__(self, model: M.FlowModel):
        self.model = model

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.model.predict(None, frame)


def test_scoring_with_history_from_the_readings_table(flywheel_env: Settings, gbm, generated) -> None:
    from assets.flow.definitions import LOOP
    from assets.flow.readings import read_all
    from assets.flow.schema import RECORD_SCHEMA
    from assets.loop.factory import _batch_predictor
    from assets.loop.scoring import score_messages

    one = generated[generated["series"] == generated["series"].iloc[0]].sort_values("time").iloc[:600]
    stamps = one["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    messages = [
        KafkaRecord(
            "flow.readings", 0, i, None, json.dumps({"series": "s", "time": t, "value": v}).encode(), 0
        )
        for i, (t, v) in enumerate(zip(stamps, one["value"], strict=True))
    ]
    messages.insert(10, KafkaRecord("flow.readings", 0, 999, None, b'{"series": "s", "time": "x"}', 0))
    schema = RECORD_SCHEMA
    loaded = Loaded(gbm)
    predict = _batch_predictor(LOOP, loaded)  # the loop's own predictor: the scoring context's window
    score_messages(messages[:301], schema, loaded, "1", "flow.readings", predict=predict)
    again = score_messages(messages[:301], schema, loaded, "1", "flow.readings", predict=predict)  # a re-run
    later = score_messages(messages[301:], schema, loaded, "1", "flow.readings", predict=predict)
    assert len(read_all()) == 600  # idempotent by (series, time): the re-run added nothing
    assert len(again.deadletter) == 1 and again.rows_in == 301
    offline = gbm.predict(None, pd.DataFrame({"series": "s", "time": stamps, "value": one["value"]}))
    # The second batch was scored with the first one's readings as its window: as if scored whole.
    np.testing.assert_allclose(later.predictions["proba__anomaly"], offline["anomaly"].iloc[300:], atol=1e-9)
    assert list(later.predictions["key"].iloc[:2]) == [f"s@{stamps.iloc[300]}", f"s@{stamps.iloc[301]}"]
    # The annotation page shows the reading's window from the same table, the reading highlighted.
    from apps.annotate.render import kind_of, render_payload

    payload = {"reading_id": f"s@{stamps.iloc[400]}", "series": "s", "time": stamps.iloc[400], "value": 1.0}
    html = render_payload(payload)
    assert kind_of(payload) == "series" and html.count("<polyline") >= 1 and 'class="highlight"' in html


def test_simulated_readings_interleave_series_in_time_order(tmp_path: Path) -> None:
    from assets.flow.simulation import records

    sent = list(records(tmp_path, 200, seed=1))
    assert len(sent) == 200 and len({r["series"] for r in sent}) > 1
    assert [r["time"] for r in sent] == sorted(r["time"] for r in sent)
    assert all(r["reading_id"] == f"{r['series']}@{r['time']}" for r in sent)


def _land(settings: Settings) -> None:
    """Four files (each is one ingest run): two generated series with their labels, a slice of the real
    test60k with every malformed-row kind appended, and a file of an unknown layout."""
    folder = Path(settings.landing) / "flow"
    write_series(generate_series(2, 6, seed=9, per_day=1.5), folder)
    real = pd.read_csv(SHARED / "test60k.csv").iloc[:3000]
    lines = real.to_csv(index=False).splitlines()
    lines += [
        "not a time,1.0,1.0",  # unparseable_time
        f"{real['time'].iloc[-1][:-2]}59,abc,1.0",  # unparseable_value
        "2013-03-30 00:00:00,1.0,1.0",  # conflicting_duplicate (twice)
        "2013-03-30 00:00:00,2.0,2.0",
        lines[5],  # an exact duplicate: dropped, counted
        "1.0",  # wrong_field_count
    ]
    (folder / "test60k-part.csv").write_text("\n".join(lines) + "\n")
    (folder / "odd.csv").write_text("when,speed\n1,2\n")  # unknown layout: quarantined whole


@pytest.fixture(scope="module")
def pipeline(
    tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path, kafka_bootstrap: str
) -> Iterator[tuple[Settings, Any, Any]]:
    """The Dagster pipeline run once for the module (ingest of every landed file, then training with
    small trainers picked by run config), in its own home; yields settings, defs and the train result.
    The broker is the session's, so the loop test can score with this run's champion."""
    import assets.flow.definitions as flow
    from orchestration.definitions import build_definitions
    from orchestration.settings import get_settings, home_environment
    from resources import build_resources

    home = tmp_path_factory.mktemp("flow-pipeline") / "flywheel"
    home.mkdir()
    shutil.copyfile(mlflow_template_db, home / "mlflow.db")
    (home / "dagster").mkdir()
    (home / "landing").mkdir()
    values = {
        **home_environment(home),
        "SPARK_MASTER": "local[2]",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FLYWHEEL_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "FLYWHEEL_SPARK_PACKAGES"):
            patch.delenv(name, raising=False)
        settings = get_settings()
        _land(settings)
        defs = build_definitions()
        instance = DagsterInstance.get()
        for key in flow.use_case.discover(instance, build_resources(resolved=True)):
            ingest = defs.resolve_job_def("flow_ingest")
            assert ingest.execute_in_process(instance=instance, partition_key=key).success
        config = {"ops": {"flow_challenger": {"config": {"trainers": ["gbm_small"]}}}}
        trained = defs.resolve_job_def("flow_train").execute_in_process(
            instance=instance, run_config=config, raise_on_error=False
        )
        yield settings, defs, trained


def test_pipeline_lands_cleans_checks_and_promotes(pipeline) -> None:
    import assets.flow.assets as flow_assets
    from resources.mlflow_registry import MlflowRegistry

    settings, _, trained = pipeline
    reasons = pd.read_parquet(flow_assets.tables_dir() / "quarantine")["reason"].value_counts().to_dict()
    assert reasons == {
        "unparseable_time": 1, "unparseable_value": 1, "conflicting_duplicate": 2, "wrong_field_count": 1,
        "unknown_layout": 1,
    }  # fmt: skip
    evaluations = trained.get_asset_check_evaluations()
    assert trained.success, [(e.check_name, e.metadata) for e in evaluations if not e.passed]
    checks = {e.check_name: e.passed for e in evaluations}
    assert all(checks.values()) and {"flow_times_increasing", "flow_cadence_regular"} <= set(checks)
    holdout = pd.read_parquet(settings.home / "lifecycle" / "flow" / "holdout" / "holdout-v1.parquet")
    table = pd.read_parquet(flow_assets.tables_dir() / "clean" / "readings.parquet")
    assert "odd" not in set(table["series"]) and "test60k-part" in set(table["series"])
    # Temporal: every held-out reading is later than every trained reading of its series.
    rest = table[~table["reading_id"].isin(set(holdout["reading_id"]))]
    first_held = holdout.groupby("series")["time"].min()
    assert (rest.groupby("series")["time"].max() < first_held.reindex(rest["series"].unique())).all()
    assert MlflowRegistry(settings.mlflow_tracking_uri).champion_location("flow") is not None
    # Both halves of the gate: the sewer holdout and NAB's score on series no model trained on.
    gate = next(e for e in evaluations if e.check_name == "flow_promotion_gate")
    decision = gate.metadata["decision"].value
    assert "f1_anomaly=" in decision and "transfer_nab_standard=" in decision, decision
    result = json.loads(
        (settings.home / "lifecycle" / "flow" / "evaluations").joinpath("v1.json").read_text()
    )
    assert result["challenger_metrics"]["transfer_nab_standard"] >= 40.0
    assert result["challenger_metrics"]["transfer_files"] == len(
        Corpus.read(get_settings().flow_transfer_dir).windows
    )


def test_loop_scores_readings_from_the_broker_with_history(pipeline, monkeypatch) -> None:
    """Readings published to ``flow.readings`` → the Kafka sensor's runs score them with each
    series' window from the readings table (the champion of the pipeline fixture) → anomalies on
    ``flow.alerts``; every offset lands in predictions or dead-letter exactly once."""
    import mlflow.pyfunc
    from sensor_ticks import tick

    from assets.loop.factory import predictions_table
    from resources.kafka import KafkaResource
    from resources.mlflow_registry import MlflowRegistry, MlflowResource

    settings, defs, _ = pipeline
    monkeypatch.setenv("FLYWHEEL_BATCH_SIZE", "100")
    monkeypatch.setenv("FLYWHEEL_BATCH_MAX_WAIT_SECONDS", "0")  # the last, short batch goes too
    one = as_labelled_frame(generate_series(1, 3, seed=3)).sort_values("time").iloc[:300].copy()
    assert len(one) == 300  # three days of readings hold more than 300
    one.loc[one.index[180:186], "value"] = 0.0  # a dropout after flow: an anomaly to alert on
    stamps = one["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    kafka = KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)
    topic = settings.topic("flow", "readings")
    kafka.ensure_topic(topic, partitions=1)  # one site's readings in order, as a keyed partition holds them
    sent = [
        {"reading_id": f"site@{t}", "series": "site", "time": t, "value": float(v)}
        for t, v in zip(stamps, one["value"], strict=True)
    ]
    kafka.send_json(topic, sent[:150], key_field="reading_id")
    kafka.send_raw(topic, [None, None], [b"not json", b'{"series": "site", "time": "x"}'])
    kafka.send_json(topic, sent[150:], key_field="reading_id")
    resources = {
        "kafka": kafka,
        "mlflow_registry": MlflowResource(tracking_uri=settings.mlflow_tracking_uri),
    }
    for _ in range(50):  # the broker acknowledges before every end offset reads as committed
        if sum(kafka.end_offsets(topic).values()) == len(sent) + 2:
            break
        time.sleep(0.2)
    instance = DagsterInstance.get()
    requested = tick(defs.resolve_sensor_def("flow_kafka_sensor"), instance, None, resources)
    keys = [r.partition_key for r in requested.run_requests]
    assert len(keys) == 4  # 302 messages in batches of up to 100
    for key in keys:
        assert (
            defs.resolve_job_def("flow_score")
            .execute_in_process(instance=instance, partition_key=key)
            .success
        )

    predictions = predictions_table("flow")
    dead = pd.concat(
        pd.read_parquet(p) for p in sorted((settings.home / "tables/flow/deadletter").glob("*/*.parquet"))
    )
    assert len(dead) == 2 and len(predictions) == 300
    seen = list(zip(predictions["partition"], predictions["offset"], strict=True))
    seen += list(zip(dead["partition"], dead["offset"], strict=True))
    end = kafka.end_offsets(topic)
    assert sorted(seen) == sorted((p, o) for p, n in end.items() for o in range(n))  # each exactly once

    # Each batch was scored with the series' earlier readings as its window: as if scored whole.
    version, uri = MlflowRegistry(settings.mlflow_tracking_uri).champion_location("flow")
    offline = mlflow.pyfunc.load_model(uri).predict(
        pd.DataFrame({"series": "site", "time": stamps, "value": one["value"]})
    )
    scored = predictions.set_index("key").reindex([r["reading_id"] for r in sent])
    np.testing.assert_allclose(scored["proba__anomaly"].to_numpy(), offline["anomaly"].to_numpy(), atol=1e-9)
    assert (predictions["model_version"] == version).all()

    # Alerts: exactly the readings predicted anomalous, the dropout among them. "site" is a series
    # the champion never trained on: the label-free ensemble raises its dropout once, on its first
    # reading, and keeps the rest of the event quiet.
    alerts_topic = settings.topic("flow", "alerts")
    ranges = {p: (0, n) for p, n in kafka.end_offsets(alerts_topic).items()}
    alerted = {json.loads(r.value)["key"] for r in kafka.read_range(alerts_topic, ranges)}
    flagged = set(predictions.loc[predictions["prediction"] == "anomaly", "key"])
    assert alerted == flagged and f"site@{stamps[180]}" in alerted

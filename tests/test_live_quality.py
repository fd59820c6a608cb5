"""A champion's live quality moves exactly as the labels people give say it should.

A disaster champion scores 400 streamed records; the annotation step queues 300 of them, 200 drawn
at random (the audit share) and 100 by uncertainty. Labels go in through the annotation page's API:
first 100 audit labels that agree with the champion and 100 uncertainty labels that all disagree,
then 100 audit labels that disagree. ``disaster_live_quality`` is computed on audit labels only, so
the first stage reads a perfect score whatever the biased labels say, and the second reads exactly
what scikit-learn computes on the 200 audit labels against the predictions table.
"""

from __future__ import annotations

import json

import numpy as np
from dagster import DagsterInstance
from sensor_ticks import tick
from sklearn.metrics import fbeta_score
from sklearn.preprocessing import MultiLabelBinarizer
from starlette.testclient import TestClient
from test_disaster_lifecycle import FAST_TRAINER, land_slice, run_pipeline

from apps.annotate.labelsets import LabelSet
from apps.annotate.server import create_app
from assets.loop.scoring import predictions_table
from orchestration.settings import Settings, get_settings
from orchestration.simulate import simulate
from resources.annotation_store import AnnotationStore, AnnotationStoreResource
from resources.kafka import KafkaResource
from resources.mlflow_registry import MlflowResource

TOKEN = "live-quality-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RECORDS, BUDGET, AUDITED = 400, 300, 200


def _against(predicted: list[str], labels: list[str]) -> list[str]:
    """A label set that shares nothing with the prediction."""
    return [next(name for name in labels if name not in predicted)]


def _materialize_live_quality(defs, instance: DagsterInstance) -> dict:
    result = defs.resolve_job_def("disaster_monitor").execute_in_process(instance=instance)
    assert result.success
    [materialization] = result.asset_materializations_for_node("disaster_live_quality")
    [check] = result.get_asset_check_evaluations()
    return {"meta": {k: v.value for k, v in materialization.metadata.items()}, "check": check}


def _expected(posted: dict[str, list[str]], predicted: dict[str, list[str]], labels: list[str]) -> float:
    """Weighted F2 of the posted labels against the predictions table, by scikit-learn alone."""
    binarizer = MultiLabelBinarizer(classes=labels)
    ids = sorted(posted)
    truth = binarizer.fit_transform([posted[i] for i in ids])
    guess = binarizer.transform([predicted[i] for i in ids])
    return float(fbeta_score(truth, guess, beta=2, average="weighted", zero_division=0))


def test_labels_through_the_api_move_live_quality_by_the_expected_amount(
    kafka_env: Settings, monkeypatch
) -> None:
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("FLYWHEEL_BATCH_SIZE", str(RECORDS))
    land_slice(kafka_env)
    defs = build_definitions()
    instance = DagsterInstance.get()
    assert run_pipeline(defs, instance, [FAST_TRAINER]).success  # champion v1
    assert simulate(get_settings(), "disaster", RECORDS, seed=13).sent == RECORDS
    resources = {
        "kafka": KafkaResource(bootstrap_servers=kafka_env.kafka_bootstrap_servers),
        "mlflow_registry": MlflowResource(tracking_uri=kafka_env.mlflow_tracking_uri),
    }
    [request] = tick(defs.resolve_sensor_def("disaster_kafka_sensor"), instance, None, resources).run_requests
    config = {
        "ops": {
            "disaster_annotation_candidates": {"config": {"budget": BUDGET, "audit_share": AUDITED / BUDGET}}
        }
    }
    score = defs.resolve_job_def("disaster_score")
    assert score.execute_in_process(
        instance=instance, partition_key=request.partition_key, run_config=config
    ).success

    store = AnnotationStore(kafka_env.database_url)
    queued = store.queue("disaster", limit=1000)
    audit = [q for q in queued if q["strategy"] == "audit"]
    uncertain = [q for q in queued if q["strategy"] != "audit"]
    assert len(audit) == AUDITED and len(uncertain) == BUDGET - AUDITED
    labels = list(audit[0]["suggestion"]["probabilities"])
    scored = predictions_table("disaster", columns=["key", "prediction"])
    predicted = {
        k: json.loads(p) if isinstance(p, str) else list(p)
        for k, p in zip(scored["key"], scored["prediction"], strict=True)
    }
    assert len(predicted) == RECORDS

    client = TestClient(
        create_app(
            store,
            TOKEN,
            {"disaster": LabelSet("disaster", labels, multilabel=True)},
            label_sets_path=kafka_env.home / "annotate" / "label_sets.json",
            media_roots=[kafka_env.home],
        ),
        base_url="http://127.0.0.1:8765",
    )

    def post(sample_id: str, label: list[str]) -> None:
        body = {"sample_id": sample_id, "label": label, "annotator": "auditor"}
        assert client.post("/api/disaster/labels", json=body, headers=AUTH).status_code == 201

    # The agreeing half: audit records the champion gave at least one label (an empty set is no label).
    agreeing = [q["sample_id"] for q in audit if predicted[q["sample_id"]]][:100]
    assert len(agreeing) == 100, "the champion left too many audit records without a label"
    disagreeing = [q["sample_id"] for q in audit if q["sample_id"] not in set(agreeing)][:100]
    posted: dict[str, list[str]] = {}
    for sample_id in agreeing:
        posted[sample_id] = predicted[sample_id]
        post(sample_id, posted[sample_id])
    for q in uncertain:  # biased labels, all against the champion: must not move the audit metric
        post(q["sample_id"], _against(predicted[q["sample_id"]], labels))

    first = _materialize_live_quality(defs, instance)
    assert first["meta"]["champion_version"] == "1" and first["meta"]["audit_labels"] == 100
    assert first["meta"]["live_metric"] == 1.0 == _expected(posted, predicted, labels)

    for sample_id in disagreeing:
        posted[sample_id] = _against(predicted[sample_id], labels)
        post(sample_id, posted[sample_id])
    # The live quality sensor asks for a new measurement once labels arrived.
    sensor = defs.resolve_sensor_def("disaster_live_quality_sensor")
    annotations = {"annotations": AnnotationStoreResource(database_url=kafka_env.database_url)}
    assert [
        r.job_name or "disaster_monitor" for r in tick(sensor, instance, None, annotations).run_requests
    ] == ["disaster_monitor"]
    second = _materialize_live_quality(defs, instance)
    expected = _expected(posted, predicted, labels)
    meta = second["meta"]
    print(
        f"live weighted F2: {first['meta']['live_metric']:.4f} at 100 audit labels, "
        f"{meta['live_metric']:.4f} [{meta['live_ci_low']:.4f}, {meta['live_ci_high']:.4f}] at 200 "
        f"(scikit-learn: {expected:.4f}); holdout {meta['holdout_metric']:.4f}; "
        f"check passed {second['check'].passed}"
    )
    assert meta["audit_labels"] == AUDITED
    assert abs(meta["live_metric"] - expected) < 1e-6
    assert abs((first["meta"]["live_metric"] - meta["live_metric"]) - (1.0 - expected)) < 1e-6
    assert meta["live_ci_low"] <= meta["live_metric"] <= meta["live_ci_high"]
    # The check warns exactly when the live interval lies wholly below the holdout metric.
    assert second["check"].passed == (not meta["live_ci_high"] < meta["holdout_metric"])

    report = json.loads((kafka_env.home / "monitoring/disaster/live_quality.json").read_text())
    [v1] = report["versions"]
    assert v1["all_labels"] == AUDITED + BUDGET - AUDITED and v1["all_labels_metric"] < v1["metric"]
    assert [p["labels"] for p in v1["per_100"]] == [100, 200]
    assert v1["per_100"][0]["metric"] == 1.0 and v1["per_100"][1]["metric"] < 1.0
    # MLflow keeps the live metric on the version's run, a point per measurement.
    registry = resources["mlflow_registry"].registry()
    run_id = registry.client.get_model_version("disaster", "1").run_id
    history = registry.client.get_metric_history(run_id, "live_weighted_f2")
    assert sorted((m.step, round(m.value, 6)) for m in history) == [(100, 1.0), (200, round(expected, 6))]
    assert np.isfinite(v1["holdout_metric"])

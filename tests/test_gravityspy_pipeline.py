"""Gravity Spy end to end on generated glitches of five classes, through a real Dagster instance,
Spark, GX, MLflow and Kafka: one landing-sensor run for the whole batch, every quarantine reason with
files in = kept + quarantined, a multi-class champion, the holdout report with the seed's baseline
beside the challengers, and the stream (base64 records scored, broken ones dead-lettered)."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import mlflow
import pandas as pd
from dagster import AssetKey, DagsterInstance
from PIL import Image
from sensor_ticks import tick

from assets.gravityspy.generator import write_glitches
from orchestration.settings import Settings, get_settings
from orchestration.simulate import simulate
from resources.kafka import KafkaResource
from resources.mlflow_registry import CHAMPION, MlflowRegistry, MlflowResource
from resources.object_store import ObjectStoreResource

CLASSES = ("Blip", "Koi_Fish", "Whistle", "Power_Line", "Scattered_Light")
GLITCHES = 30  # six per class
TINY = ["cnn_multiview_tiny", "pca_logistic_tiny", "spark_linear_svc_tiny"]
SHARED_BLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "gravityspy" / "Blip"


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _land_broken(root: Path) -> dict[str, int]:
    """One glitch (or file) per quarantine reason; returns the files each reason should count."""
    real = sorted(SHARED_BLIP.glob("H1_uQiUCgOWOJ_*.png"))  # one real Blip, four views
    raw = {p.name.rsplit("_", 1)[-1]: p.read_bytes() for p in real}

    def glitch(
        folder: str, gid: str, replace: dict[str, bytes] | None = None, drop: str | None = None
    ) -> None:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for view_png, data in raw.items():
            if view_png == drop:
                continue
            data = (replace or {}).get(view_png, data)
            (root / folder / f"H1_{gid}_spectrogram_{view_png}").write_bytes(data)

    image = Image.open(io.BytesIO(raw["1.0.png"]))
    glitch("Blip", "notpng0001", {"1.0.png": b"this is no image"})
    glitch("Blip", "trunc00001", {"1.0.png": raw["1.0.png"][: len(raw["1.0.png"]) // 3]})
    glitch("Blip", "small00001", {"1.0.png": _png(image.resize((400, 300)))})
    glitch("Blip", "grey000001", {"1.0.png": _png(image.convert("L"))})
    glitch("Blip", "three00001", drop="4.0.png")
    glitch("Blip", "twice00001")
    glitch("Whistle", "twice00001")
    glitch("Not_A_Class", "odd0000001")
    (root / "Blip" / "notes_spectrogram.png").write_bytes(raw["0.5.png"])
    # Per reason: the bad file itself, its three siblings as missing_view.
    return {
        "not_png": 1,
        "truncated": 1,
        "wrong_size": 1,
        "unreadable_colours": 1,
        "missing_view": 4 * 3 + 3,
        "duplicate_id": 8,
        "unknown_class": 4,
        "bad_name": 1,
    }


def test_generated_glitches_landing_to_champion_to_stream(kafka_env: Settings, monkeypatch) -> None:
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("FLYWHEEL_BATCH_SIZE", "4")
    root = Path(kafka_env.landing) / "gravityspy"
    write_glitches(root, GLITCHES, CLASSES, seed=3)
    expected_reasons = _land_broken(root)
    files_in = sum(1 for _ in root.rglob("*.png"))
    defs = build_definitions()
    instance = DagsterInstance.get()
    store = ObjectStoreResource(landing=kafka_env.landing)

    # The landing sensor: one run for the whole batch of files, none on the next tick.
    sensor = defs.resolve_sensor_def("gravityspy_landing_sensor")
    first = tick(sensor, instance, None, {"object_store": store})
    [request] = first.run_requests
    assert request.tags["flywheel/new_files"] == str(files_in)

    config = {
        "ops": {
            "gravityspy_challenger": {"config": {"trainers": TINY}},
            "gravityspy_trainer_report": {"config": {"trainers": TINY}},
        }
    }
    result = defs.resolve_job_def("gravityspy_pipeline").execute_in_process(
        instance=instance, run_config=config, tags=request.tags, raise_on_error=False
    )
    assert result.success
    meta = {
        k: v.value
        for k, v in result.asset_materializations_for_node("gravityspy_glitches")[0].metadata.items()
    }
    assert meta["files_in"] == files_in == meta["files_kept"] + meta["files_quarantined"]
    assert meta["files_kept"] == 4 * GLITCHES and meta["labelled_glitches"] == GLITCHES
    assert {k.removeprefix("quarantined_"): v for k, v in meta.items() if k.startswith("quarantined_")} == (
        expected_reasons
    )
    quarantine = pd.read_parquet(kafka_env.home / "tables/gravityspy/quarantine/files.parquet")
    assert len(quarantine) == meta["files_quarantined"]
    assert all(c.passed for c in result.get_asset_check_evaluations())
    assert not getattr(tick(sensor, instance, first.cursor, {"object_store": store}), "run_requests", [])

    # A multi-class champion, and the holdout report: the seed's baseline beside the challengers.
    registry = MlflowRegistry(kafka_env.mlflow_tracking_uri)
    champion = registry.get_alias("gravityspy", CHAMPION)
    assert champion is not None and champion.tags["trainer"] in TINY
    labels = json.loads((kafka_env.home / "lifecycle/gravityspy/labels.json").read_text())
    assert sorted(labels["labels"]) == sorted(CLASSES)
    report = json.loads((kafka_env.home / "lifecycle/gravityspy/trainer_report.json").read_text())
    rows = {r["trainer"]: r for r in report["trainers"]}
    assert rows["spark_linear_svc_tiny"]["role"] == "seed baseline" and set(rows) == set(TINY)
    for row in rows.values():
        assert all(0.0 <= row[m] <= 1.0 and math.isfinite(row[m]) for m in ("macro_f1", "accuracy"))
    # Generated classes are distinct shapes: the classical challenger separates them on unseen glitches.
    assert rows["pca_logistic_tiny"]["macro_f1"] >= 0.6
    evaluation = instance.get_latest_materialization_event(AssetKey("gravityspy_evaluation"))
    assert evaluation.asset_materialization.metadata["holdout_version"].value == 1

    # The stream: base64 records from the landed PNGs, plus two the loop must dead-letter.
    sent = simulate(get_settings(), "gravityspy", 6, seed=1, source=str(root / "Koi_Fish"))
    assert sent.sent == 6
    kafka = KafkaResource(bootstrap_servers=kafka_env.kafka_bootstrap_servers)
    good = json.loads(json.dumps({"id": "bad-1", "ifo": "L1"}))
    koi = sorted((root / "Koi_Fish").glob("*.png"))[:4]
    for path in koi:
        good[f"spectrogram_{path.name.rsplit('_', 1)[-1][:-4]}"] = base64.b64encode(
            path.read_bytes()
        ).decode()
    missing = {k: v for k, v in good.items() if k != "spectrogram_2.0"}
    broken = {**good, "id": "bad-2", "spectrogram_1.0": base64.b64encode(b"\x89PNG\r\n\x1a\nxx").decode()}
    producer = kafka.producer(max_request_size=8 << 20)
    topic = kafka_env.topic("gravityspy")
    for record in (missing, broken):
        producer.send(topic, key=record["id"].encode(), value=json.dumps(record).encode())
    producer.flush()
    producer.close()
    resources = {
        "kafka": kafka,
        "mlflow_registry": MlflowResource(tracking_uri=kafka_env.mlflow_tracking_uri),
    }
    ticked = tick(defs.resolve_sensor_def("gravityspy_kafka_sensor"), instance, None, resources)
    keys = [r.partition_key for r in ticked.run_requests]
    assert keys
    score = defs.resolve_job_def("gravityspy_score")
    scored = dead = 0
    for key in keys:
        run = score.execute_in_process(instance=instance, partition_key=key)
        assert run.success
        batch = run.asset_materializations_for_node("gravityspy_scored_batch")[0].metadata
        assert batch["rows_in"].value == batch["rows_scored"].value + batch["rows_deadlettered"].value
        scored, dead = scored + batch["rows_scored"].value, dead + batch["rows_deadlettered"].value
    assert (scored, dead) == (6, 2)
    letters = pd.concat(
        pd.read_parquet(p) for p in (kafka_env.home / "tables/gravityspy/deadletter").rglob("*.parquet")
    )
    assert sorted(letters["reason"]) == [
        "not_a_record: missing_view: spectrogram_2.0",
        "not_a_record: truncated: spectrogram_1.0",
    ]
    predictions = pd.concat(
        pd.read_parquet(p) for p in (kafka_env.home / "tables/gravityspy/predictions").rglob("*.parquet")
    )
    assert {f"proba__{c}" for c in CLASSES} <= set(predictions.columns)
    # The champion through MLflow, on the `_uri` form of the contract (landed files).
    model = mlflow.pyfunc.load_model(f"models:/gravityspy/{champion.version}")
    uris = {f"spectrogram_{p.name.rsplit('_', 1)[-1][:-4]}_uri": str(p) for p in koi}
    output = model.predict(pd.DataFrame([{"id": "u1", "ifo": "H1", **uris}]))
    assert list(output.columns) == [*labels["labels"], "prediction"]

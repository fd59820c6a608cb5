"""Gravity Spy end to end on generated glitches of four classes, through a real Dagster instance,
Spark, GX, MLflow and Kafka. One module fixture lands the glitches (plus one broken glitch per
quarantine reason) and runs the landing sensor and the pipeline once; the tests assert on that run:
one landing-sensor run for the whole batch, every quarantine reason with files in = kept +
quarantined, a multi-class champion, the holdout report with the seed's baseline beside the
challengers, the stream (base64 records scored, broken ones dead-lettered, the pyfunc on ``_uri``
records), and last an incremental second batch that decodes only its own new files."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance
from PIL import Image
from sensor_ticks import tick

from assets.gravityspy.generator import write_glitches
from orchestration.infra.kafka_broker import free_port
from orchestration.settings import Settings, get_settings, home_environment
from orchestration.simulate import simulate
from resources.kafka import KafkaResource
from resources.mlflow_registry import CHAMPION, MlflowRegistry, MlflowResource
from resources.object_store import ObjectStoreResource

CLASSES = ("Blip", "Koi_Fish", "Whistle", "Power_Line")
GLITCHES = 20  # five per class: a holdout and a validation split of every class, small and fast
TINY = ["cnn_multiview_tiny", "pca_logistic_tiny", "spark_linear_svc_tiny"]
#: The challengers compete without the Spark baseline (its fit is the slowest step); the holdout report
#: fits all three, so the baseline is still trained, scored through the contract and reported.
COMPETING = ["cnn_multiview_tiny", "pca_logistic_tiny"]
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


@dataclass
class Pipeline:
    settings: Settings
    defs: Any
    instance: DagsterInstance
    store: ObjectStoreResource
    root: Path
    files_in: int
    expected_reasons: dict[str, int]
    request: Any
    cursor: str | None
    result: Any
    meta: dict[str, Any]


def _meta(result: Any) -> dict[str, Any]:
    return {
        k: v.value
        for k, v in result.asset_materializations_for_node("gravityspy_glitches")[0].metadata.items()
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path, kafka_bootstrap: str) -> Settings:
    """``kafka_env`` for the whole module (one pipeline run serves every test here)."""
    home = tmp_path_factory.mktemp("gravityspy") / "flywheel"
    home.mkdir()
    shutil.copyfile(mlflow_template_db, home / "mlflow.db")
    values = {
        **home_environment(home),
        "SPARK_MASTER": "local[2]",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FLYWHEEL_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
        "FLYWHEEL_BATCH_SIZE": "8",  # the eight stream records below: one scoring run
    }
    assert free_port()  # the broker is the session's; nothing else listens
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "FLYWHEEL_SPARK_PACKAGES"):
            patch.delenv(name, raising=False)
        (home / "dagster").mkdir(parents=True)
        (home / "landing").mkdir(parents=True)
        yield get_settings()


@pytest.fixture(scope="module")
def pipeline(env: Settings) -> Pipeline:
    """Land the glitches and the broken ones, tick the landing sensor, run the pipeline once."""
    from orchestration.definitions import build_definitions

    root = Path(env.landing) / "gravityspy"
    write_glitches(root, GLITCHES, CLASSES, seed=1)  # a holdout of every class
    expected = _land_broken(root)
    files_in = sum(1 for _ in root.rglob("*.png"))
    defs = build_definitions()
    instance = DagsterInstance.get()
    store = ObjectStoreResource(landing=env.landing)
    first = tick(
        defs.resolve_sensor_def("gravityspy_landing_sensor"), instance, None, {"object_store": store}
    )
    [request] = first.run_requests
    config = {
        "ops": {
            "gravityspy_challenger": {"config": {"trainers": COMPETING}},
            "gravityspy_trainer_report": {"config": {"trainers": TINY}},
        }
    }
    result = defs.resolve_job_def("gravityspy_train").execute_in_process(
        instance=instance, run_config=config, tags=request.tags, raise_on_error=False
    )
    assert result.success
    return Pipeline(
        env, defs, instance, store, root, files_in, expected, request, first.cursor, result, _meta(result)
    )


def test_one_sensor_run_for_the_whole_batch(pipeline: Pipeline) -> None:
    assert pipeline.request.tags["flywheel/new_files"] == str(pipeline.files_in)
    sensor = pipeline.defs.resolve_sensor_def("gravityspy_landing_sensor")
    again = tick(sensor, pipeline.instance, pipeline.cursor, {"object_store": pipeline.store})
    assert not getattr(again, "run_requests", [])


def test_every_quarantine_reason_counted(pipeline: Pipeline) -> None:
    meta = pipeline.meta
    assert meta["files_in"] == pipeline.files_in == meta["files_kept"] + meta["files_quarantined"]
    assert meta["files_kept"] == 4 * GLITCHES and meta["labelled_glitches"] == GLITCHES
    reasons = {k.removeprefix("quarantined_"): v for k, v in meta.items() if k.startswith("quarantined_")}
    assert reasons == pipeline.expected_reasons
    assert meta["files_decoded"] == pipeline.files_in and meta["files_reused"] == 0
    quarantine = pd.read_parquet(pipeline.settings.home / "tables/gravityspy/quarantine/files.parquet")
    assert len(quarantine) == meta["files_quarantined"]
    assert all(c.passed for c in pipeline.result.get_asset_check_evaluations())


def test_multiclass_champion_and_holdout_report_with_baseline(pipeline: Pipeline) -> None:
    home = pipeline.settings.home
    champion = MlflowRegistry(pipeline.settings.mlflow_tracking_uri).get_alias("gravityspy", CHAMPION)
    assert champion is not None and champion.tags["trainer"] in COMPETING
    labels = json.loads((home / "lifecycle/gravityspy/labels.json").read_text())
    assert sorted(labels["labels"]) == sorted(CLASSES)
    report = json.loads((home / "lifecycle/gravityspy/trainer_report.json").read_text())
    rows = {r["trainer"]: r for r in report["trainers"]}
    assert rows["spark_linear_svc_tiny"]["role"] == "seed baseline" and set(rows) == set(TINY)
    assert report["holdout_rows"] > 0 and report["training_rows"] > 0
    for row in rows.values():
        assert all(0.0 <= row[m] <= 1.0 and math.isfinite(row[m]) for m in ("macro_f1", "accuracy"))
    # Generated classes are distinct shapes: the classical challenger separates them on unseen glitches.
    assert rows["pca_logistic_tiny"]["macro_f1"] >= 0.6
    evaluation = pipeline.instance.get_latest_materialization_event(AssetKey("gravityspy_evaluation"))
    assert evaluation.asset_materialization.metadata["holdout_version"].value == 1
    challenger = pipeline.result.asset_materializations_for_node("gravityspy_challenger")[0].metadata
    assert all(name in challenger["trainer_comparison"].value for name in COMPETING)


def test_stream_scores_records_dead_letters_broken_ones_and_uri_pyfunc(pipeline: Pipeline) -> None:
    settings, root, defs = pipeline.settings, pipeline.root, pipeline.defs
    sent = simulate(get_settings(), "gravityspy", 6, seed=1, source=str(root / "Koi_Fish"))
    assert sent.sent == 6
    kafka = KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)
    good: dict[str, str] = {"id": "bad-1", "ifo": "L1"}
    koi = sorted((root / "Koi_Fish").glob("*.png"))[:4]
    for path in koi:
        good[f"spectrogram_{path.name.rsplit('_', 1)[-1][:-4]}"] = base64.b64encode(
            path.read_bytes()
        ).decode()
    missing = {k: v for k, v in good.items() if k != "spectrogram_2.0"}
    broken = {**good, "id": "bad-2", "spectrogram_1.0": base64.b64encode(b"\x89PNG\r\n\x1a\nxx").decode()}
    producer = kafka.producer(max_request_size=8 << 20)
    topic = settings.topic("gravityspy")
    for record in (missing, broken):
        producer.send(topic, key=record["id"].encode(), value=json.dumps(record).encode())
    producer.flush()
    producer.close()
    resources = {
        "kafka": kafka,
        "mlflow_registry": MlflowResource(tracking_uri=settings.mlflow_tracking_uri),
    }
    ticked = tick(defs.resolve_sensor_def("gravityspy_kafka_sensor"), pipeline.instance, None, resources)
    keys = [r.partition_key for r in ticked.run_requests]
    assert keys
    score = defs.resolve_job_def("gravityspy_score")
    scored = dead = 0
    for key in keys:
        run = score.execute_in_process(instance=pipeline.instance, partition_key=key)
        assert run.success
        batch = run.asset_materializations_for_node("gravityspy_scored_batch")[0].metadata
        assert batch["rows_in"].value == batch["rows_scored"].value + batch["rows_deadlettered"].value
        scored, dead = scored + batch["rows_scored"].value, dead + batch["rows_deadlettered"].value
    assert (scored, dead) == (6, 2)
    tables = settings.home / "tables/gravityspy"
    letters = pd.concat(pd.read_parquet(p) for p in (tables / "deadletter").rglob("*.parquet"))
    assert sorted(letters["reason"]) == [
        "not_a_record: missing_view: spectrogram_2.0",
        "not_a_record: truncated: spectrogram_1.0",
    ]
    predictions = pd.concat(pd.read_parquet(p) for p in (tables / "predictions").rglob("*.parquet"))
    assert {f"proba__{c}" for c in CLASSES} <= set(predictions.columns)
    # The champion through MLflow, on the `_uri` form of the contract (landed files).
    champion = MlflowRegistry(settings.mlflow_tracking_uri).get_alias("gravityspy", CHAMPION)
    labels = json.loads((settings.home / "lifecycle/gravityspy/labels.json").read_text())["labels"]
    model = mlflow.pyfunc.load_model(f"models:/gravityspy/{champion.version}")
    uris = {f"spectrogram_{p.name.rsplit('_', 1)[-1][:-4]}_uri": str(p) for p in koi}
    output = model.predict(pd.DataFrame([{"id": "u1", "ifo": "H1", **uris}]))
    assert list(output.columns) == [*labels, "prediction"]


def test_the_holdout_is_scored_on_its_frozen_views(pipeline: Pipeline) -> None:
    """Issue 22, item 4: the holdout version keeps the views' bytes it was drawn with; a held-out
    glitch gone from the landing changes nothing an evaluation scores (it used to fail every one)."""
    from assets.gravityspy.definitions import SPEC
    from assets.gravityspy.records import URI_COLUMNS, VIEW_COLUMNS
    from assets.lifecycle.factory import _predict
    from assets.lifecycle.holdout import inputs_path

    rows_path = pipeline.settings.home / "lifecycle/gravityspy/holdout/holdout-v1.parquet"
    frame, inputs = pd.read_parquet(rows_path), pd.read_parquet(inputs_path(rows_path))
    assert len(inputs) == len(frame) and list(inputs["id"]) == list(frame["id"])
    assert all(isinstance(v, bytes) and v[:4] == b"\x89PNG" for c in VIEW_COLUMNS for v in inputs[c])
    assert inputs[list(URI_COLUMNS)].isna().all().all()
    champion = MlflowRegistry(pipeline.settings.mlflow_tracking_uri).get_alias("gravityspy", CHAMPION)
    model = mlflow.pyfunc.load_model(f"models:/gravityspy/{champion.version}")
    before = _predict(SPEC, model.predict, frame, inputs)
    landed = [Path(frame[c].iloc[0]) for c in URI_COLUMNS]
    aside = [path.with_name(path.name + ".aside") for path in landed]
    for path, moved in zip(landed, aside, strict=True):
        path.rename(moved)
    try:
        pd.testing.assert_frame_equal(_predict(SPEC, model.predict, frame, inputs), before)
    finally:
        for path, moved in zip(landed, aside, strict=True):
            moved.rename(path)


def test_second_batch_decodes_only_its_new_files(pipeline: Pipeline) -> None:
    """Runs last (it changes the landing): two new glitches land, one old glitch is removed and one
    view of another is replaced; the ingest decodes the new and replaced files only, drops the gone
    ones, and a re-run decodes nothing and duplicates nothing."""
    root, meta = pipeline.root, pipeline.meta
    extra = root.parent / "extra"
    write_glitches(extra, 2, ("Blip", "Whistle"), seed=11)
    added = sorted(extra.rglob("*.png"))
    for path in added:
        target = root / path.relative_to(extra)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    gone_id = sorted((root / "Power_Line").glob("*.png"))[0].name.split("_")[1]
    removed = sorted((root / "Power_Line").glob(f"*_{gone_id}_*.png"))
    for path in removed:
        path.unlink()
    replaced = sorted((root / "Koi_Fish").glob("*_spectrogram_0.5.png"))[0]
    replaced.write_bytes(replaced.read_bytes())  # same bytes, a new mtime: a new version
    ingest = pipeline.defs.resolve_job_def("gravityspy_ingest")
    second = _meta(ingest.execute_in_process(instance=pipeline.instance))
    assert second["files_decoded"] == len(added) + 1
    assert second["files_reused"] == meta["files_in"] - len(removed) - 1
    assert second["decoded_rows_dropped"] == len(removed) + 1  # the gone files and the old version
    assert second["files_in"] == meta["files_in"] + len(added) - len(removed)
    assert second["labelled_glitches"] == GLITCHES + 2 - 1
    again = _meta(ingest.execute_in_process(instance=pipeline.instance))
    assert (again["files_decoded"], again["files_reused"]) == (0, second["files_in"])
    assert (
        again["files_kept"] == second["files_kept"]
        and again["labelled_glitches"] == second["labelled_glitches"]
    )
    clean = pd.read_parquet(pipeline.settings.home / "tables/gravityspy/clean/glitches.parquet")
    assert clean["id"].is_unique and len(clean) == GLITCHES + 1 and gone_id not in set(clean["id"])

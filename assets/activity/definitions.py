"""Smartwatch activity (CASAS): landing files → per-file Spark cleaning → windows → GX checks →
the shared lifecycle (Spark MLlib random forest against gradient boosting) → champion.

Every CSV under ``<landing>/activity/`` is a dynamic partition of ``activity_file`` (key = object
key), ingested by one run when the landing sensor sees it new or changed. The file's layout is
detected from its head: raw participant files (a) are cleaned and cut into 10 s windows, window
files (b) are cleaned as they are, feature files (c) are cleaned into the features table (the
classifier serves window records, so features alone cannot train it). A file of unknown layout is
quarantined whole, line by line, with reason ``unknown_layout``; its run succeeds so that other
files are unaffected. Outputs are written per file (``.../slot=<file>``) and overwritten on re-ingest,
so ingesting a changed file twice never duplicates rows.

``<landing>/activity/activity_mapping.csv`` (``original,mapped``, as in CASAS ArWISE) is not data but
configuration: raw answers are mapped through it and its classes become the known label set.
Records on topic ``activity.records``: one window in layout (b) without its label, plus ``window_id``.
PySpark, pandas, Great Expectations and the trainers are imported where they are used, so loading
this module (every run and step process does) stays cheap.
"""

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Config,
    DagsterInstance,
    Definitions,
    DynamicPartitionsDefinition,
    Failure,
    MetadataValue,
    asset,
    define_asset_job,
)
from pydantic import Field

from assets.activity.layouts import LABEL_COLUMN, WINDOW_COLUMNS, detect_layout
from assets.activity.quality import WindowCheck, expect_labels, window_checks
from assets.lifecycle.factory import build_lifecycle
from assets.lifecycle.spec import ContentKey, LabelledTable, LifecycleSpec
from assets.loop.factory import LoopSpec, build_loop
from assets.loop.schemas import ACTIVITY_SIGNALS, RECORD_SCHEMAS
from assets.quality.checks import gx_asset_check
from orchestration.run_tags import train_tags
from orchestration.settings import get_settings
from resources.object_store import ObjectInfo, ObjectStoreResource
from resources.spark import SparkResource
from sensors.landing import build_landing_sensor, register_landing_partitions

USE_CASE = "activity"
MAPPING_FILE = "activity_mapping.csv"
ID_COLUMN = "window_id"
WINDOWS = AssetKey("activity_windows")
activity_files = DynamicPartitionsDefinition(name="activity_files")


def accept(obj: ObjectInfo) -> bool:
    """Landed CSVs are data files, except the label mapping (configuration)."""
    name = obj.key.rsplit("/", 1)[-1].lower()
    return name.endswith(".csv") and name != MAPPING_FILE


def tables_dir() -> Path:
    return get_settings().data_dir("tables", USE_CASE)


def _slot(key: str) -> str:
    """A folder name for one landed file: readable, and unique even when names collide."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", key.rsplit("/", 1)[-1])[:80]
    return f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def _participant(key: str) -> str:
    return re.sub(r"\.csv$", "", key.rsplit("/", 1)[-1], flags=re.IGNORECASE)


def load_mapping(object_store: ObjectStoreResource) -> dict[str, str]:
    """``original → mapped`` from ``activity_mapping.csv`` in the landing, or empty."""
    import pandas as pd

    key = f"{USE_CASE}/{MAPPING_FILE}"
    if not object_store.exists(key):
        return {}
    frame = pd.read_csv(object_store.local_path(key), dtype=str).dropna()
    if list(frame.columns[:2]) != ["original", "mapped"]:
        raise Failure(f"{object_store.uri(key)} must have the header 'original,mapped'")
    return dict(zip(frame["original"].str.strip(), frame["mapped"].str.strip(), strict=True))


def _head(path: Path, lines: int = 2) -> list[str]:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return [line for _, line in zip(range(lines), handle, strict=False)]


def _write(frame: Any, table: str, slot: str) -> str:
    """Overwrite this file's slot of ``table`` (so a re-ingest replaces, never appends)."""
    path = tables_dir() / table / f"slot={slot}"
    frame.write.mode("overwrite").parquet(str(path))
    return str(path)


def _clear(slot: str) -> None:
    """Forget what an earlier ingest of this file wrote (its layout may have changed)."""
    for table in ("rows", "windows", "features", "quarantine"):
        shutil.rmtree(tables_dir() / table / f"slot={slot}", ignore_errors=True)


class IngestConfig(Config):
    label_span_seconds: float = Field(
        default=300, description="Raw files: a prompt's answer labels the rows up to this long before it."
    )


@asset(
    name="activity_file",
    group_name=USE_CASE,
    partitions_def=activity_files,
    kinds={"spark", "parquet"},
    description="One landed file cleaned with Spark: kept rows, windows, quarantined lines with reasons.",
)
def activity_file(
    context: AssetExecutionContext,
    config: IngestConfig,
    spark: SparkResource,
    object_store: ObjectStoreResource,
) -> None:
    from pyspark.sql import functions as F

    from assets.activity.cleaning import build_windows, clean_features, clean_raw, clean_windows, read_lines

    key = context.partition_key
    if not object_store.exists(key):
        raise Failure(f"{object_store.uri(key)} is no longer in the landing")
    path = object_store.local_path(key)
    session = spark.spark_session
    layout = detect_layout(_head(path))
    slot = _slot(key)
    _clear(slot)
    meta: dict = {"source": MetadataValue.path(object_store.uri(key)), "layout": layout or "unknown"}
    if layout is None:
        lines = read_lines(session, [str(path)]).withColumn("reason", F.lit("unknown_layout"))
        rows = lines.select("source_file", "line", "reason", "raw").localCheckpoint()
        total = rows.count()
        _write(rows, "quarantine", slot)
        context.log.warning(
            f"{key}: header matches no activity layout (raw participant, window or feature CSV); "
            f"all {total} lines quarantined with reason unknown_layout"
        )
        meta.update(rows_in=total, rows_kept=0, rows_quarantined=total, quarantined_unknown_layout=total)
        context.add_output_metadata(meta)
        return
    participant = _participant(key)
    if layout == "raw":
        result = clean_raw(
            session, [str(path)], config.label_span_seconds, load_mapping(object_store) or None
        )
        kept = result.kept.localCheckpoint()
        _write(kept, "rows", slot)
        windows = build_windows(kept, keep_participant=True).withColumn("line", F.lit(None).cast("long"))
    elif layout == "windows":
        result = clean_windows(session, [str(path)], keep_position=True)
        windows = result.kept.drop("source_file").withColumn("participant", F.lit(participant))
    else:
        result = clean_features(session, [str(path)])
        _write(result.kept.withColumn("participant", F.lit(participant)), "features", slot)
        windows = None
    _write(result.quarantine, "quarantine", slot)
    meta.update({name: int(value) for name, value in result.counts.items()})
    if windows is not None:
        windows = windows.withColumn(
            ID_COLUMN,
            F.concat_ws("@", F.col("participant"), F.date_format("stamp", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")),
        ).localCheckpoint()
        _write(windows, "windows", slot)
        labelled = windows.where(F.col(LABEL_COLUMN).isNotNull()).count()
        meta.update(windows=windows.count(), labelled_windows=labelled)
    if result.counts["rows_in"] != result.counts["rows_kept"] + result.counts["rows_quarantined"]:
        raise Failure(f"{key}: rows in != kept + quarantined: {result.counts}")
    context.add_output_metadata(meta)


@asset(
    name="activity_windows",
    group_name=USE_CASE,
    deps=[activity_file],
    kinds={"spark", "parquet"},
    description="Labelled 10 s windows of every ingested file (deduplicated); unlabelled ones kept apart.",
)
def activity_windows(context: AssetExecutionContext, spark: SparkResource) -> LabelledTable:
    from pyspark.sql import functions as F

    root = tables_dir() / "windows"
    if not root.exists() or not any(root.glob("slot=*")):
        raise Failure(
            f"no windows yet: land raw participant or window CSVs under <landing>/{USE_CASE}/ "
            "and ingest them (activity_file)"
        )
    windows = spark.spark_session.read.parquet(str(root)).drop("slot")
    # Materialised once: every output below reads it, and dropDuplicates may keep a different copy
    # of a duplicated window on each evaluation.
    latest = windows.dropDuplicates([ID_COLUMN]).localCheckpoint()
    labelled = latest.where(F.col(LABEL_COLUMN).isNotNull())
    out = tables_dir() / "clean"
    frame = labelled.orderBy("participant", "stamp").toPandas()
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / "windows.parquet", index=False)
    unlabelled = latest.where(F.col(LABEL_COLUMN).isNull())
    unlabelled.write.mode("overwrite").parquet(str(tables_dir() / "unlabelled"))
    labels = sorted(frame[LABEL_COLUMN].unique())
    if len(labels) < 2:
        raise Failure(f"a classifier needs at least two activity labels in the data; found {labels}")
    counts = frame[LABEL_COLUMN].value_counts().rename_axis("class").reset_index(name="windows")
    context.add_output_metadata(
        {
            "labelled_windows": len(frame),
            "unlabelled_windows": unlabelled.count(),
            "duplicates_dropped": windows.count() - latest.count(),
            "classes": len(labels),
            "class_counts": MetadataValue.md(counts.to_markdown(index=False)),
            "participants": int(frame["participant"].nunique()),
        }
    )
    return LabelledTable(str(out / "windows.parquet"), tuple(labels), ID_COLUMN, LABEL_COLUMN)


def _known_labels() -> list[str] | None:
    """Classes of the landed ``activity_mapping.csv``, if there is one (read at check time)."""
    from resources import build_resources

    mapping = load_mapping(build_resources(resolved=True)["object_store"])
    return sorted(set(mapping.values())) or None


def _expectations(check: WindowCheck):
    """The check's expectations; the label list is read when the check runs (it may have landed since)."""
    if check.name == "activity_labels_known":
        return lambda _table, frame: expect_labels(_known_labels())(frame)
    return lambda _table, frame: check.expectations(frame)


def _data_checks() -> list:
    return [
        gx_asset_check(WINDOWS, c.name, c.description, _expectations(c), prepare=c.prepare)
        for c in window_checks()
    ]


data_checks = _data_checks()

SIGNAL_COLUMNS = ACTIVITY_SIGNALS
SPEC = LifecycleSpec(
    use_case=USE_CASE,
    source=WINDOWS,
    record_columns=(ID_COLUMN, *WINDOW_COLUMNS[:-1]),  # a layout-(b) window without its label
    trainers="assets.activity.model:TRAINERS",
    primary_metric="macro_f1",
    # Absolute floor: beat the best constant guess on the holdout by 5 points of accuracy.
    thresholds={"accuracy_lift": 0.05},
    tolerance=0.02,
    task="multiclass",
    data_checks=[AssetCheckKey(WINDOWS, c.name) for c in window_checks()],
    pip_requirements="assets.activity.model:pip_requirements",
    annotations=True,
    # A window is its motion: the same 100 steps of six signals under another id (or stamp) is the
    # same window, whether it came back through the stream or an annotation.
    content_key=ContentKey(numbers=SIGNAL_COLUMNS),
)
lifecycle = build_lifecycle(SPEC)
LOOP = LoopSpec(
    schema=RECORD_SCHEMAS[USE_CASE],  # key window_id (ID_COLUMN); stamp and the 600 signals, numeric
    strategy="margin",  # near ties between two activities are what a person settles best
    budget=10,
    batch_size=200,
    retrain_min_labels=20,
)
loop = build_loop(SPEC, LOOP)

ingest_job = define_asset_job(
    "activity_ingest",
    selection=[activity_file],
    partitions_def=activity_files,
    description="Clean one landed activity file (one run per file, started by the landing sensor).",
)
train_job = define_asset_job(
    "activity_train",
    tags=train_tags(USE_CASE),
    selection=AssetSelection.groups(USE_CASE) - AssetSelection.assets(activity_file, *loop.batch_assets),
    description="Windows of every ingested file → checks → challengers → evaluation → gated promotion.",
)
landing_sensor = build_landing_sensor(USE_CASE, "activity_ingest", activity_files, accept=accept)

#: Jobs `flywheel materialize activity` runs, in order.
MATERIALIZE_JOBS = ["activity_ingest", "activity_train"]


def discover(instance: DagsterInstance, resources: dict) -> list[str]:
    """Register every landed data file as a partition (``flywheel materialize``)."""
    return register_landing_partitions(instance, resources["object_store"], USE_CASE, activity_files, accept)


defs = Definitions(
    assets=[activity_file, activity_windows, *lifecycle.assets, *loop.assets],
    asset_checks=[*data_checks, *lifecycle.checks],
    jobs=[ingest_job, train_job, *loop.jobs],
    sensors=[landing_sensor, *loop.sensors],
    schedules=loop.schedules,
)

"""Smartwatch activity's own assets: one landed file cleaned per partition (``activity_file``) and the
labelled windows of every ingested file still in the landing (``activity_windows``), with their data
checks. ``definitions.py`` declares the use case around them; see its docstring for the layouts.
PySpark, pandas, Great Expectations and the trainers are imported where they are used.
"""

import json
import re
import shutil
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    DynamicPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from assets.activity.layouts import LABEL_COLUMN
from assets.activity.quality import WindowCheck, expect_labels, window_checks
from assets.activity.units import (
    CANONICAL,
    SENSORS_FILE,
    SensorUnits,
    parse_sensor_units,
)
from assets.lifecycle.spec import LabelledTable
from assets.per_file import landed_read, version_metadata
from assets.quality.checks import gx_asset_check
from assets.slots import slot_name
from assets.slots import tables_dir as use_case_tables
from orchestration.settings import get_settings
from resources.object_store import ObjectInfo, ObjectStoreResource
from resources.spark import SparkResource
from sensors.landing import OBJECT_VERSION_TAG

USE_CASE = "activity"
MAPPING_FILE = "activity_mapping.csv"
ID_COLUMN = "window_id"
WINDOWS = AssetKey("activity_windows")
#: Files in the landing that configure the use case rather than carry data.
CONFIG_FILES = frozenset({MAPPING_FILE, SENSORS_FILE})
#: Per-file outputs of ``activity_file``, one ``slot=<file>`` folder each.
SLOT_TABLES = ("rows", "windows", "features", "quarantine")
activity_files = DynamicPartitionsDefinition(name="activity_files")


def accept(obj: ObjectInfo) -> bool:
    """Landed CSVs are data files, except the configuration files (label mapping, sensor units)."""
    name = obj.key.rsplit("/", 1)[-1].lower()
    return name.endswith(".csv") and name not in CONFIG_FILES


def tables_dir() -> Path:
    return use_case_tables(USE_CASE)


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


def load_sensor_units(object_store: ObjectStoreResource) -> tuple[SensorUnits, str | None]:
    """The declared units of the landed signals and where they were declared (None: the defaults)."""
    key = f"{USE_CASE}/{SENSORS_FILE}"
    if not object_store.exists(key):
        return CANONICAL, None
    try:
        return parse_sensor_units(object_store.read_bytes(key).decode("utf-8")), object_store.uri(key)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Failure(
            f"{object_store.uri(key)}: {exc}. Expected e.g. "
            '{"acceleration_unit": "m/s2", "rotation_unit": "deg/s"}; allowed values: acceleration_unit '
            '"g" or "m/s2", rotation_unit "rad/s" or "deg/s" (defaults g and rad/s)'
        ) from exc


def _source_record(slot: str) -> Path:
    """Which file (and version, units) a slot holds: slot names are not reversible to keys."""
    return tables_dir() / "sources" / f"{slot}.json"


def _clear(slot: str) -> None:
    """Forget what an earlier ingest of this file wrote (its layout may have changed)."""
    _source_record(slot).unlink(missing_ok=True)
    for table in SLOT_TABLES:
        shutil.rmtree(tables_dir() / table / f"slot={slot}", ignore_errors=True)


def _record_source(slot: str, record: dict) -> None:
    path = _source_record(slot)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(record, sort_keys=True))
    tmp.replace(path)


def _ingested_slots() -> dict[str, dict]:
    """Every slot with an output, with what its source record says (empty for slots ingested before
    source records existed)."""
    slots: dict[str, dict] = {}
    for table in SLOT_TABLES:
        for folder in (tables_dir() / table).glob("slot=*"):
            slots.setdefault(folder.name.removeprefix("slot="), {})
    for record in (tables_dir() / "sources").glob("*.json"):
        slots[record.stem] = json.loads(record.read_text())
    return slots


def _parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))


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
) -> MaterializeResult:
    key = context.partition_key
    if not object_store.exists(key):
        raise Failure(f"{object_store.uri(key)} is no longer in the landing")
    units, declared_in = load_sensor_units(object_store)
    expected = context.run.tags.get(OBJECT_VERSION_TAG)
    slot = slot_name(key)
    with landed_read(object_store, key, expected) as read:
        meta = _ingest(context, config, spark, object_store, key, read.path, units)
        _record_source(slot, {"key": key, "version": read.version, **units.as_dict()})
    if read.direct:
        meta["read_from"] = MetadataValue.path(read.path)
    meta.update(
        **version_metadata(context, key, read, expected),
        units=units.describe(),
        units_declared_in=declared_in or f"defaults (no {SENSORS_FILE} in the landing)",
    )
    # Returned, not added: a Pipes launch (FLYWHEEL_SPARK_LAUNCH=pipes) requires the asset to
    # return its result.
    return MaterializeResult(metadata=meta)


def _ingest(
    context: AssetExecutionContext,
    config: IngestConfig,
    spark: SparkResource,
    object_store: ObjectStoreResource,
    key: str,
    path: str,
    units: SensorUnits,
) -> dict:
    """Clean one snapshot of a landed file into its slot; returns the run metadata.

    ``FLYWHEEL_SPARK_LAUNCH=session``: in this run's SparkSession; ``pipes``: as the ``spark-submit``
    job ``scripts/spark_jobs/activity_clean.py`` through Dagster Pipes. Both run
    ``assets.activity.ingest.clean_file`` on the same job description.
    """
    from assets.activity.ingest import FileJob, clean_file

    job = FileJob(
        path=str(path),
        slot=slot_name(key),
        tables_root=str(tables_dir()),
        source_uri=object_store.uri(key),  # where the line is in the landing, not the private copy
        participant=_participant(key),
        acceleration_unit=units.acceleration,
        rotation_unit=units.rotation,
        mapping=load_mapping(object_store) or None,
        label_span_seconds=config.label_span_seconds,
    )
    _record_source_cleared(job.slot)
    settings = get_settings()
    try:
        if settings.spark_launch == "pipes":
            from resources.spark_pipes import run_spark_job

            result = run_spark_job(context, "activity_clean.py", {"job": job.as_dict()}, settings)
        else:
            result = clean_file(spark.spark_session, job)
    except ValueError as exc:  # the counts did not add up
        raise Failure(str(exc)) from exc
    if result.get("warning"):
        context.log.warning(f"{key}: {result['warning']}")
    meta: dict = {"source": MetadataValue.path(job.source_uri), "layout": result["layout"]}
    meta.update({k: v for k, v in result.items() if isinstance(v, int)})
    meta["spark_launch"] = settings.spark_launch
    meta["spark_master"] = result.get("spark_master", settings.spark_master)
    meta["outputs"] = MetadataValue.json(result.get("paths", {}))
    return meta


def _record_source_cleared(slot: str) -> None:
    """The slot's source record goes with its old outputs (``clean_file`` clears the tables)."""
    _source_record(slot).unlink(missing_ok=True)


def _remove_deleted(context: AssetExecutionContext, object_store: ObjectStoreResource) -> dict[str, Any]:
    """Take the slots of files no longer in the landing out of the per-file tables, and their
    partitions out of ``activity_files``; returns what was removed (for the metadata).

    Refuses when *none* of the ingested files is in the landing: that is far more often a landing
    setting pointing elsewhere than a deliberate deletion of everything, and removal cannot be undone.
    """
    landed = {o.key for o in object_store.list(f"{USE_CASE}/") if accept(o)}
    current = {slot_name(key) for key in landed}
    slots = _ingested_slots()
    gone = sorted(set(slots) - current)
    if gone and len(gone) == len(slots):
        raise Failure(
            f"none of the {len(slots)} ingested activity files is in {object_store.uri(USE_CASE)}/ any more; "
            "refusing to remove them all (is FLYWHEEL_LANDING right?). Land files again, or delete "
            f"{tables_dir()} to start over."
        )
    files, windows = [], 0
    for slot in gone:
        windows += _parquet_rows(tables_dir() / "windows" / f"slot={slot}")
        files.append(slots[slot].get("key", f"slot={slot}"))
        _clear(slot)
    instance = context.instance
    partitions = [key for key in instance.get_dynamic_partitions(activity_files.name) if key not in landed]
    for key in partitions:
        instance.delete_dynamic_partition(activity_files.name, key)
    if files:
        context.log.warning(f"removed {windows} windows of {len(files)} files gone from the landing: {files}")
    return {"files_removed": files, "windows_removed": windows, "partitions_removed": partitions}


def _check_units(object_store: ObjectStoreResource) -> SensorUnits:
    """The declared units, provided every ingested file was converted under them (else Failure):
    one table, and the one model trained on it, must mean one kind of watch."""
    units, declared_in = load_sensor_units(object_store)

    def ingested_under(record: dict) -> SensorUnits:  # slots from before units existed: the defaults
        return SensorUnits(
            record.get("acceleration_unit", CANONICAL.acceleration),
            record.get("rotation_unit", CANONICAL.rotation),
        )

    def has_signals(slot: str) -> bool:  # a file quarantined whole has nothing to convert
        return any((tables_dir() / t / f"slot={slot}").exists() for t in ("rows", "windows", "features"))

    other = sorted(
        record.get("key", f"slot={slot}")
        for slot, record in _ingested_slots().items()
        if has_signals(slot) and ingested_under(record) != units
    )
    if other:
        raise Failure(
            f"{len(other)} files were ingested under other units than "
            f"{declared_in or 'the defaults'} declares ({units.as_dict()}): {other}. Ingest them again "
            "(activity_ingest for these partitions, e.g. a backfill in the UI) so that every window is "
            "converted the same way."
        )
    return units


@asset(
    name="activity_windows",
    group_name=USE_CASE,
    deps=[activity_file],
    kinds={"spark", "parquet"},
    description="Labelled 10 s windows of every ingested file still in the landing (deduplicated, in g and "
    "rad/s); unlabelled ones kept apart.",
)
def activity_windows(
    context: AssetExecutionContext, spark: SparkResource, object_store: ObjectStoreResource
) -> LabelledTable:
    from pyspark.sql import functions as F

    removed = _remove_deleted(context, object_store)
    units = _check_units(object_store)
    root = tables_dir() / "windows"
    if not root.exists() or not any(root.glob("slot=*")):
        raise Failure(
            f"no windows yet: land raw participant or window CSVs under <landing>/{USE_CASE}/ "
            "and ingest them (activity_file)"
        )
    # mergeSchema: slots ingested before the source-unit columns existed lack them (null there).
    windows = spark.spark_session.read.option("mergeSchema", "true").parquet(str(root)).drop("slot")
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
            "source_units": MetadataValue.json(units.as_dict()),
            "files_removed": MetadataValue.json(removed["files_removed"]),
            "windows_removed": removed["windows_removed"],
            "partitions_removed": MetadataValue.json(removed["partitions_removed"]),
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
        gx_asset_check(WINDOWS, c.name, c.description, _expectations(c), prepare=c.prepare, explain=c.explain)
        for c in window_checks()
    ]


data_checks = _data_checks()

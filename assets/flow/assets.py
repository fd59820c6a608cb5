"""Sewer-flow's own assets: per-file cleaning (``flow_file``), the labelled readings of every file still
in the landing (``flow_series``) and their data checks.

``definitions.py`` declares the use case around them (see its docstring and
``docs/use-cases/flow.md``). Heavy libraries are imported where they are used.
"""

import json
import re
import shutil
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    DynamicPartitionsDefinition,
    Failure,
    MetadataValue,
    asset,
)

from assets.flow.quality import flow_checks
from assets.lifecycle.spec import LabelledTable
from assets.quality.checks import gx_asset_check
from assets.slots import slot_name
from assets.slots import tables_dir as use_case_tables
from orchestration.settings import get_settings
from resources.annotation_resource import AnnotationStoreResource
from resources.object_store import ObjectInfo, ObjectStoreResource
from resources.spark import SparkResource
from sensors.landing import OBJECT_VERSION_TAG

USE_CASE = "flow"
ID_COLUMN = "reading_id"
LABEL_COLUMN = "label"
SERIES = AssetKey("flow_series")
SLOT_TABLES = ("readings", "labels", "quarantine")
flow_files = DynamicPartitionsDefinition(name="flow_files")


def accept(obj: ObjectInfo) -> bool:
    return obj.key.lower().endswith(".csv")


def tables_dir() -> Path:
    return use_case_tables(USE_CASE)


def series_id(key: str) -> str:
    """The series a file holds when it has no ``series`` column: its stem (``.labels`` dropped)."""
    name = re.sub(r"\.csv$", "", key.rsplit("/", 1)[-1], flags=re.IGNORECASE)
    return re.sub(r"\.labels$", "", name)


def _header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return handle.readline().strip().lstrip("\ufeff").split(",")


def _clear(slot: str, keep: tuple[str, ...] = ()) -> None:
    """Remove this slot's outputs of the tables not in ``keep`` (written anew already)."""
    for table in SLOT_TABLES:
        if table not in keep:
            shutil.rmtree(tables_dir() / table / f"slot={slot}", ignore_errors=True)
    if "sources" not in keep:
        (tables_dir() / "sources" / f"{slot}.json").unlink(missing_ok=True)


@asset(
    name="flow_file",
    group_name=USE_CASE,
    partitions_def=flow_files,
    kinds={"spark", "parquet"},
    description="One landed series (or labels) file cleaned with Spark: readings, quarantined lines with "
    "reasons, cadence and gaps.",
)
def flow_file(
    context: AssetExecutionContext, spark: SparkResource, object_store: ObjectStoreResource
) -> None:
    from pyspark.sql import functions as F

    from assets.activity.cleaning import read_lines
    from assets.flow.cleaning import clean_file
    from assets.flow.parsing import detect_layout

    key = context.partition_key
    if not object_store.exists(key):
        raise Failure(f"{object_store.uri(key)} is no longer in the landing")
    slot = slot_name(key)
    timezone = get_settings().flow_timezone
    from assets.slots import write_slot

    with object_store.snapshot(key, context.run.tags.get(OBJECT_VERSION_TAG)) as snapshot:
        # Each output replaces its slot in one step, then what this version no longer writes goes:
        # flow_series never sees the file's readings missing while it is re-ingested.
        header = _header(snapshot.path)
        layout = detect_layout(header)
        session = spark.spark_session
        meta: dict[str, Any] = {"source": MetadataValue.path(object_store.uri(key)), "timezone": timezone}
        if layout is None:
            lines = read_lines(session, [str(snapshot.path)]).where(F.col("line") > 1)
            rows = lines.select("line", F.lit("unknown_layout").alias("reason"), "raw").localCheckpoint()
            total = rows.count()
            write_slot(rows, tables_dir() / "quarantine" / f"slot={slot}")
            _clear(slot, keep=("quarantine",))
            context.log.warning(
                f"{key}: header {header} matches no flow layout (time,value / time,raw,corrected / "
                f"time,flow / timestamp,value / time,type, optional series); {total} lines quarantined"
            )
            context.add_output_metadata(
                {**meta, "layout": "unknown", "rows_in": total, "rows_quarantined": total}
            )
            return
        result = clean_file(session, str(snapshot.path), header, layout, series_id(key), timezone)
        table = "labels" if layout.kind == "labels" else "readings"
        write_slot(result.kept.drop("t_ns"), tables_dir() / table / f"slot={slot}")
        quarantine = result.quarantine.withColumn("source_file", F.lit(object_store.uri(key)))
        write_slot(quarantine, tables_dir() / "quarantine" / f"slot={slot}")
        _clear(slot, keep=(table, "quarantine", "sources"))
        counts = result.counts
        if (
            counts["rows_in"]
            != counts["rows_kept"] + counts["rows_quarantined"] + counts["duplicates_dropped"]
        ):
            raise Failure(f"{key}: rows in != kept + quarantined + exact duplicates dropped: {counts}")
        record = tables_dir() / "sources" / f"{slot}.json"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"key": key, "version": snapshot.version, "kind": layout.kind}))
    context.add_output_metadata({**meta, "layout": layout.kind, "object_version": snapshot.version, **counts})


def _landed_slots(object_store: ObjectStoreResource) -> list[str]:
    """Slots of files still in the landing (a deleted file's slots are left out)."""
    return sorted(slot_name(o.key) for o in object_store.list(f"{USE_CASE}/") if accept(o))


def _read_slots(table: str, slots: list[str]) -> Any:
    import pandas as pd

    frames = [
        pd.read_parquet(tables_dir() / table / f"slot={s}")
        for s in slots
        if (tables_dir() / table / f"slot={s}").exists()
    ]
    return pd.concat(frames, ignore_index=True) if frames else None


def _annotated(store: Any) -> Any:
    """Labels given on the page, one per reading: ``series, time, value, label``."""
    import pandas as pd

    from assets.flow.parsing import parse_times

    rows = [
        {**item["payload"], LABEL_COLUMN: item["label"]}
        for item in store.labelled_samples(USE_CASE)
        if item["payload"] is not None and item["label"] in ("anomaly", "normal")
    ]
    frame = pd.DataFrame(rows, columns=["series", "time", "value", LABEL_COLUMN])
    frame["series"] = frame["series"].astype(str)
    frame["time"] = parse_times(frame["time"], get_settings().flow_timezone)
    return frame.dropna(subset=["time"])


@asset(
    name="flow_series",
    group_name=USE_CASE,
    deps=[flow_file],
    kinds={"pandas", "parquet"},
    description="Labelled readings of every labelled series (raw != corrected, labels files, page labels); "
    "unlabelled series kept apart.",
)
def flow_series(
    context: AssetExecutionContext, object_store: ObjectStoreResource, annotations: AnnotationStoreResource
) -> LabelledTable:
    import numpy as np
    import pandas as pd

    from assets.flow.parsing import corrected_labels, detect_cadence, mark_gaps
    from assets.flow.readings import read_all
    from assets.flow.records import reading_id

    slots = _landed_slots(object_store)
    readings = _read_slots("readings", slots)
    if readings is None:
        raise Failure(f"no flow series yet: land CSV series under <landing>/{USE_CASE}/ and ingest them")
    readings["time"] = pd.to_datetime(readings["time"], utc=True)
    before = len(readings)
    readings = readings.sort_values(["series", "time", "line"]).drop_duplicates(["series", "time"])
    across_files = before - len(readings)
    if "corrected" not in readings:
        readings["corrected"] = np.nan
    has_corrected = readings["corrected"].notna()
    readings["label"] = None
    readings.loc[has_corrected, "label"] = corrected_labels(
        readings.loc[has_corrected, "value"], readings.loc[has_corrected, "corrected"]
    )
    readings["type"] = np.where(readings["label"] == "anomaly", "corrected", "")
    labels = _read_slots("labels", slots)
    if labels is not None:
        labels["time"] = pd.to_datetime(labels["time"], utc=True)
        typed = pd.MultiIndex.from_frame(labels[["series", "time"]])
        types = pd.Series(labels["type"].to_numpy(), index=typed)
        types = types[~types.index.duplicated()]
        in_file = readings["series"].isin(set(labels["series"]))
        found = types.reindex(pd.MultiIndex.from_frame(readings[["series", "time"]])).to_numpy()
        hit = in_file.to_numpy() & pd.notna(found)
        readings.loc[in_file & readings["label"].isna(), "label"] = "normal"
        readings.loc[hit, "label"] = "anomaly"
        readings.loc[hit, "type"] = found[hit]
    readings["scored"] = readings["label"].notna()
    page = _annotated(annotations.store())
    streamed = read_all()
    if len(page):
        # Series known only from the stream come from the readings table, as context for their labels.
        new = sorted(set(page["series"]) - set(readings["series"]))
        if new and len(streamed):
            extra = streamed[streamed["series"].isin(new)]
            extra = pd.DataFrame(
                {
                    "series": extra["series"],
                    "time": pd.to_datetime(extra["t_ns"], utc=True),
                    "value": extra["value"],
                    "label": None,
                    "type": "",
                    "scored": False,
                }
            )
            readings = pd.concat([readings, extra], ignore_index=True)
        index = pd.MultiIndex.from_frame(readings[["series", "time"]])
        given = pd.Series(
            page[LABEL_COLUMN].to_numpy(), index=pd.MultiIndex.from_frame(page[["series", "time"]])
        )
        given = given[~given.index.duplicated(keep="last")].reindex(index).to_numpy()
        has = pd.notna(given)
        readings.loc[has, "label"] = given[has]
        readings.loc[has, "type"] = np.where(given[has] == "anomaly", "page", "")
        readings.loc[has, "scored"] = True
    labelled_series = set(readings.loc[readings["scored"], "series"])
    keep = readings["series"].isin(labelled_series)
    unlabelled = readings[~keep]
    frame = readings[keep].sort_values(["series", "time"]).reset_index(drop=True)
    frame["label"] = frame["label"].fillna("normal")  # context rows: never fitted nor judged (scored False)
    frame[ID_COLUMN] = [
        reading_id(s, t.isoformat()) for s, t in zip(frame["series"], frame["time"], strict=True)
    ]
    # Cadence and gaps for rows that came from the stream (the landed ones have them from Spark).
    for rows in frame.groupby("series").groups.values():
        part = frame.loc[rows]
        if part["cadence_s"].isna().any():
            t = part["time"].astype("int64").to_numpy()
            cadence = detect_cadence(t)
            frame.loc[rows, "cadence_s"] = cadence
            frame.loc[rows, "gap_before"] = mark_gaps(t, cadence)
    frame["gap_before"] = frame["gap_before"].fillna(False).astype(bool)
    columns = [
        ID_COLUMN,
        "series",
        "time",
        "value",
        LABEL_COLUMN,
        "type",
        "scored",
        "cadence_s",
        "gap_before",
    ]
    out = tables_dir() / "clean"
    out.mkdir(parents=True, exist_ok=True)
    frame[columns].to_parquet(out / "readings.parquet", index=False)
    unlabelled[["series", "time", "value"]].to_parquet(out / "unlabelled.parquet", index=False)
    scored = frame[frame["scored"]]
    context.add_output_metadata(
        {
            "series": int(frame["series"].nunique()),
            "readings": len(frame),
            "labelled_readings": len(scored),
            "anomalous_readings": int((scored[LABEL_COLUMN] == "anomaly").sum()),
            "types": MetadataValue.json(scored.loc[scored["type"] != "", "type"].value_counts().to_dict()),
            "unlabelled_series": int(unlabelled["series"].nunique()),
            "unlabelled_readings": len(unlabelled),
            "page_labels": len(page),
            "duplicates_across_files": int(across_files),
        }
    )
    if frame[LABEL_COLUMN].nunique() < 2:
        raise Failure("the labelled flow readings hold one class only; land a series with anomalies")
    return LabelledTable(str(out / "readings.parquet"), ("anomaly", "normal"), ID_COLUMN, LABEL_COLUMN)


def _check(c: Any) -> Any:
    return gx_asset_check(
        SERIES,
        c.name,
        c.description,
        lambda _t, frame, c=c: c.expectations(frame),
        prepare=c.prepare,
        explain=c.explain,
    )


data_checks = [_check(c) for c in flow_checks()]


def scored_rows(frame: Any) -> Any:
    """Readings that may be held out: labelled points, not context rows."""
    return frame["scored"].astype(bool)

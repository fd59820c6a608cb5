"""Cleaning one landed activity file into its slot of the clean tables, given a SparkSession.

Plain logic (no Dagster): the ``activity_file`` asset calls :func:`clean_file` in its own session
(``FLYWHEEL_SPARK_LAUNCH=session``), and ``scripts/spark_jobs/activity_clean.py`` calls the very same
function inside ``spark-submit`` when the ingest runs as a Dagster Pipes job (``pipes``), so both
launches write the same tables and report the same counts.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assets.activity.layouts import LABEL_COLUMN, detect_layout
from assets.activity.units import SOURCE_UNIT_COLUMNS, SensorUnits

ID_COLUMN = "window_id"
#: Per-file outputs, one ``slot=<file>`` folder each.
SLOT_TABLES = ("rows", "windows", "features", "quarantine")


@dataclass(frozen=True)
class FileJob:
    """Everything a cleaning of one file needs (JSON-serialisable: it is a Pipes job's argument)."""

    path: str  # the snapshot (a local path, or a URI Spark reads directly such as s3a://)
    slot: str
    tables_root: str
    source_uri: str  # where the line is in the landing, for quarantine rows
    participant: str
    acceleration_unit: str = "g"
    rotation_unit: str = "rad/s"
    mapping: dict[str, str] | None = None
    label_span_seconds: float = 300.0

    @property
    def units(self) -> SensorUnits:
        return SensorUnits(self.acceleration_unit, self.rotation_unit)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def head_lines(path: str, lines: int = 2, session: Any = None) -> list[str]:
    """The first lines of a file (local, or through Spark for a remote URI)."""
    if "://" in path and not path.startswith("file://"):
        return [row.value for row in session.read.text(path).limit(lines).collect()]
    with Path(path.removeprefix("file://")).open("r", encoding="utf-8", errors="replace") as handle:
        return [line for _, line in zip(range(lines), handle, strict=False)]


def slot_path(tables_root: str, table: str, slot: str) -> str:
    return str(Path(tables_root) / table / f"slot={slot}")


def clear_slot(tables_root: str, slot: str) -> None:
    """Forget what an earlier ingest of this file wrote (its layout may have changed)."""
    for table in SLOT_TABLES:
        shutil.rmtree(slot_path(tables_root, table, slot), ignore_errors=True)


def write_slot(frame: Any, tables_root: str, table: str, slot: str) -> str:
    """Overwrite this file's slot of ``table`` (so a re-ingest replaces, never appends)."""
    path = slot_path(tables_root, table, slot)
    frame.write.mode("overwrite").parquet(path)
    return path


def convert_units(frame: Any, units: SensorUnits) -> Any:
    """Signal columns in g and rad/s (Spark); other columns as they are."""
    from pyspark.sql import functions as F

    factors = units.factors(frame.columns)
    if not factors:
        return frame
    return frame.select(
        *[(F.col(c) * F.lit(factors[c])).alias(c) if c in factors else F.col(c) for c in frame.columns]
    )


def clean_file(session: Any, job: FileJob) -> dict[str, Any]:
    """Clean one file into its slot; returns counts (``rows_in = rows_kept + rows_quarantined``),
    ``layout``, the output ``paths`` and, for a file of unknown layout, a ``warning``.

    Raises ValueError when the counts do not add up (a line lost would be a bug, not bad data).
    """
    from pyspark.sql import functions as F

    from assets.activity.cleaning import build_windows, clean_features, clean_raw, clean_windows, read_lines

    layout = detect_layout(head_lines(job.path, session=session))
    clear_slot(job.tables_root, job.slot)
    source = F.lit(job.source_uri)
    units = job.units
    out: dict[str, Any] = {"layout": layout or "unknown", "paths": {}}
    paths = out["paths"]
    if layout is None:
        lines = read_lines(session, [job.path]).withColumn("reason", F.lit("unknown_layout"))
        rows = lines.select(source.alias("source_file"), "line", "reason", "raw").localCheckpoint()
        total = rows.count()
        paths["quarantine"] = write_slot(rows, job.tables_root, "quarantine", job.slot)
        out["warning"] = (
            "header matches no activity layout (raw participant, window or feature CSV); "
            f"all {total} lines quarantined with reason unknown_layout"
        )
        out.update(rows_in=total, rows_kept=0, rows_quarantined=total, quarantined_unknown_layout=total)
        return out
    if layout == "raw":
        result = clean_raw(session, [job.path], job.label_span_seconds, job.mapping or None)
        kept = convert_units(result.kept, units).localCheckpoint()
        paths["rows"] = write_slot(kept, job.tables_root, "rows", job.slot)
        windows = build_windows(kept, keep_participant=True).withColumn("line", F.lit(None).cast("long"))
    elif layout == "windows":
        result = clean_windows(session, [job.path], keep_position=True)
        windows = convert_units(result.kept.drop("source_file"), units)
        windows = windows.withColumn("participant", F.lit(job.participant))
    else:
        result = clean_features(session, [job.path])
        features = convert_units(result.kept, units).withColumn("participant", F.lit(job.participant))
        paths["features"] = write_slot(features, job.tables_root, "features", job.slot)
        windows = None
    quarantine = result.quarantine.withColumn("source_file", source)
    paths["quarantine"] = write_slot(quarantine, job.tables_root, "quarantine", job.slot)
    out.update({name: int(value) for name, value in result.counts.items()})
    if windows is not None:
        windows = (
            windows.withColumn(
                ID_COLUMN,
                F.concat_ws(
                    "@", F.col("participant"), F.date_format("stamp", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")
                ),
            )
            .withColumn(SOURCE_UNIT_COLUMNS[0], F.lit(units.acceleration))
            .withColumn(SOURCE_UNIT_COLUMNS[1], F.lit(units.rotation))
            .localCheckpoint()
        )
        paths["windows"] = write_slot(windows, job.tables_root, "windows", job.slot)
        labelled = windows.where(F.col(LABEL_COLUMN).isNotNull()).count()
        out.update(windows=windows.count(), labelled_windows=labelled)
    if out["rows_in"] != out["rows_kept"] + out["rows_quarantined"]:
        raise ValueError(f"{job.source_uri}: rows in != kept + quarantined: {result.counts}")
    return out

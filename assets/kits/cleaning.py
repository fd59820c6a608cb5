"""The Spark pieces every kit's cleaning shares: landed CSVs read by header name with nothing rejected
at read time, the first valid row per id kept (later ones ``duplicate_id``), quarantine with the raw
fields and a reason, and the counts (``rows_in = rows_kept + rows_quarantined``). No Dagster here."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

CORRUPT = "_corrupt_record"


@dataclass
class CleanResult:
    """``kept`` (``id``, the use case's fields, the label, ``source_file``) and ``quarantine`` (``raw,
    reason, source_file``) are checkpointed; ``counts`` holds ``rows_in``, ``rows_kept``,
    ``rows_quarantined``, ``rows_labelled`` and ``quarantined_<reason>`` for every reason."""

    kept: DataFrame
    quarantine: DataFrame
    counts: dict[str, int]


def spark_path(path: str, encoded: bool) -> str:
    """How Spark names a local file: ``file:/abs/path``. ``_metadata.file_path`` percent-encodes it
    (``a%20b.csv``, ``encoded=True``); ``binaryFile``'s ``path`` column does not."""
    from pathlib import Path

    absolute = Path(path).resolve()
    return absolute.as_uri().replace("file:///", "file:/", 1) if encoded else f"file:{absolute}"


def with_landing_keys(result: CleanResult, keys_by_path: dict[str, str]) -> CleanResult:
    """``source_file`` as the landing key (``<uc>/file.csv``) instead of the local path Spark read (a
    cached download on S3), so quarantined rows say where they landed."""
    mapping = {spark_path(path, encoded=True): key for path, key in keys_by_path.items()}
    return CleanResult(
        result.kept.replace(mapping, subset=["source_file"]),
        result.quarantine.replace(mapping, subset=["source_file"]),
        result.counts,
    )


def header(path: str) -> list[str]:
    """The file's column names (its first CSV line), trimmed."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:  # a BOM is no column
        return [c.strip() for c in next(csv.reader(handle), [])]


def read_by_header(
    spark: SparkSession, paths: Sequence[str], columns: Sequence[str], required: Sequence[str], expected: str
) -> DataFrame:
    """``columns`` of every file as strings (null where a file lacks one), the corrupt-record column,
    ``source_file`` and ``_pos`` (position, in file order): no row is rejected at read time.

    Files are read in groups of equal header, each with the header's own columns, so columns match by
    name, in any order. A file lacking a ``required`` column is a configuration mistake, not a bad
    row: ValueError names it and what was ``expected``.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in paths:
        names = tuple(header(path))
        missing = [c for c in required if c not in names]
        if missing:
            raise ValueError(f"{path}: header {list(names)} lacks {missing}; expected {expected}")
        groups.setdefault(names, []).append(path)
    frames = [_read_group(spark, names, files, columns) for names, files in groups.items()]
    combined = frames[0]
    for frame in frames[1:]:
        combined = combined.unionByName(frame)
    return combined.withColumn("_pos", F.monotonically_increasing_id())


def _read_group(
    spark: SparkSession, names: tuple[str, ...], files: list[str], columns: Sequence[str]
) -> DataFrame:
    # ``multiLine`` keeps quoted fields with newlines whole; a file is then read by one task, in order.
    fields = [T.StructField(n if n else f"_blank{i}", T.StringType()) for i, n in enumerate(names)]
    frame = (
        spark.read.schema(T.StructType([*fields, T.StructField(CORRUPT, T.StringType())]))
        .options(
            header=True, multiLine=True, escape='"', mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT
        )
        .csv(files)
        .withColumn("source_file", F.col("_metadata.file_path"))
    )
    for column in columns:
        if column not in names:
            frame = frame.withColumn(column, F.lit(None).cast("string"))
    return frame.select(*columns, CORRUPT, "source_file")


def trimmed_or_null(column: str) -> Column:
    value = F.trim(F.col(column))
    return F.when(value != "", value)


def split_rows(
    rows: DataFrame,
    reason: Column,
    kept: Sequence[Column],
    raw: Sequence[str],
    label_column: str,
    reasons: Sequence[str],
) -> CleanResult:
    """Rows whose ``reason`` is null are valid; of those, the first per ``_id`` (file, then position)
    is kept and the others are ``duplicate_id``. Kept rows are ``kept`` columns plus ``source_file``;
    quarantined ones the ``raw`` columns as JSON, the reason and ``source_file``."""
    rows = rows.withColumn("_reason", reason)
    first = F.row_number().over(Window.partitionBy("_id").orderBy("source_file", "_pos")) == 1
    valid = rows.where(F.col("_reason").isNull()).withColumn("_reason", F.when(~first, "duplicate_id"))
    everything = rows.where(F.col("_reason").isNotNull()).unionByName(valid).localCheckpoint()
    kept_rows = everything.where(F.col("_reason").isNull()).select(*kept, "source_file").localCheckpoint()
    quarantine = (
        everything.where(F.col("_reason").isNotNull())
        .select(
            F.to_json(F.struct(*[F.col(c) for c in (*raw, CORRUPT)])).alias("raw"),
            F.col("_reason").alias("reason"),
            "source_file",
        )
        .localCheckpoint()
    )
    return CleanResult(kept_rows, quarantine, _counts(kept_rows, quarantine, label_column, reasons))


def _counts(
    kept: DataFrame, quarantine: DataFrame, label_column: str, reasons: Sequence[str]
) -> dict[str, int]:
    by_reason = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    counts = {
        "rows_kept": kept.count(),
        "rows_quarantined": sum(by_reason.values()),
        "rows_labelled": kept.where(F.col(label_column).isNotNull()).count(),
    }
    counts["rows_in"] = counts["rows_kept"] + counts["rows_quarantined"]
    counts.update({f"quarantined_{r}": int(by_reason.get(r, 0)) for r in reasons})
    return counts

"""Spark cleaning of one landed flow file: parse, quarantine with reasons, sort, dedupe, cadence, gaps.

Every line after the header is a record and ends in exactly one of ``kept``, ``quarantine``
(``line``, ``reason``, ``raw``) or the count of exact duplicates dropped, so
``rows_in == rows_kept + rows_quarantined + duplicates_dropped`` (``rows_in`` counted from the lines
read). The first reason that applies:

``wrong_field_count``
    the line does not split into the header's number of fields (blank lines included).
``unparseable_time``
    the time is in none of the known formats (``assets.flow.parsing.parse_times``).
``unparseable_value``
    the value (or the corrected value) is empty, not a number, or infinite.
``conflicting_duplicate``
    another line of the same series has the same time and a different value: which is right cannot
    be told, so every copy is quarantined. (Lines with the same time *and* value are exact
    duplicates: one is kept.)

Times are parsed by the same pure function the model uses (in a pandas UDF), in the configured zone,
and kept as UTC. Per series the cadence is the median step; ``gap_before`` marks a reading after a
step longer than ``GAP_FACTOR`` cadences.
"""

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from assets.activity.cleaning import read_lines
from assets.flow.parsing import GAP_FACTOR, REASONS, Layout
from assets.flow.parsing import parse_times as _parse_times

ALL_REASONS: tuple[str, ...] = ("wrong_field_count", *REASONS)


@dataclass
class CleanResult:
    kept: DataFrame
    quarantine: DataFrame
    counts: dict[str, int]


def _times_udf(timezone: str):
    import pandas as pd

    @F.pandas_udf(LongType())
    def parse(values: pd.Series) -> pd.Series:
        parsed = _parse_times(values, timezone)
        return pd.Series(parsed.astype("int64").where(parsed.notna()), dtype="Int64")

    return parse


def _finite(column: Column) -> Column:
    number = column.try_cast("double")
    return F.when(number.isNotNull() & ~F.isnan(number) & (F.abs(number) < F.lit(float("inf"))), number)


def clean_file(
    spark: SparkSession, path: str, header: list[str], layout: Layout, series_id: str, timezone: str
) -> CleanResult:
    """Clean one landed file (a series or a labels file) into kept rows and quarantined lines."""
    names = [h.strip().lower() for h in header]
    lines = read_lines(spark, [path]).where(F.col("line") > 1).drop("source_file")
    fields = F.split(F.col("raw"), ",", -1)
    frame = lines.withColumn("_fields", fields).withColumn("_n", F.size("_fields"))

    def field(name: str) -> Column:
        return F.trim(F.get(F.col("_fields"), names.index(name)))

    series = field(layout.series) if layout.series else F.lit(series_id)
    parse = _times_udf(timezone)
    frame = frame.withColumn("series", series).withColumn("t_ns", parse(field(layout.time)))
    if layout.kind == "labels":
        frame = frame.withColumn("type", field("type"))
        bad_value = F.col("type").isNull() | (F.col("type") == "")
        value_columns = ["type"]
    else:
        frame = frame.withColumn("value", _finite(field(layout.value)))
        bad_value = F.col("value").isNull()
        value_columns = ["value"]
        if layout.corrected:
            frame = frame.withColumn("corrected", _finite(field(layout.corrected)))
            bad_value = bad_value | F.col("corrected").isNull()
            value_columns.append("corrected")
    reason = (
        F.when(F.col("_n") != len(names), F.lit("wrong_field_count"))
        .when(F.col("t_ns").isNull(), F.lit("unparseable_time"))
        .when(bad_value, F.lit("unparseable_value"))
    )
    frame = frame.withColumn("reason", reason).localCheckpoint()
    valid = frame.where(F.col("reason").isNull())
    # Exact duplicates: keep the first line of each (series, time, values).
    first = Window.partitionBy("series", "t_ns", *value_columns).orderBy("line")
    valid = valid.withColumn("_copy", F.row_number().over(first))
    distinct = valid.where(F.col("_copy") == 1)
    same_time = Window.partitionBy("series", "t_ns")
    distinct = distinct.withColumn("_versions", F.count("*").over(same_time))
    conflicting = distinct.where(F.col("_versions") > 1).select(
        "line", F.lit("conflicting_duplicate").alias("reason"), "raw"
    )
    # Every copy of a conflicting time goes to quarantine, exact copies of one of its versions too.
    conflict_keys = distinct.where(F.col("_versions") > 1).select("series", "t_ns").distinct()
    extra_copies = (
        valid.where(F.col("_copy") > 1)
        .join(conflict_keys, ["series", "t_ns"], "inner")
        .select("line", F.lit("conflicting_duplicate").alias("reason"), "raw")
    )
    quarantine = (
        frame.where(F.col("reason").isNotNull())
        .select("line", "reason", "raw")
        .unionByName(conflicting)
        .unionByName(extra_copies)
        .localCheckpoint()
    )
    kept = distinct.where(F.col("_versions") == 1)
    kept = _cadence_and_gaps(kept).localCheckpoint() if layout.kind == "series" else kept
    keep_columns = ["series", "t_ns", *value_columns, "line"]
    if layout.kind == "series":
        keep_columns += ["cadence_s", "gap_before"]
    kept = kept.select(*keep_columns).withColumn(
        "time", F.timestamp_micros(F.floor(F.col("t_ns") / 1000).cast("long"))
    )
    kept = kept.orderBy("series", "t_ns").localCheckpoint()
    rows_in = lines.count()
    counts = {
        "rows_in": rows_in,
        "rows_kept": kept.count(),
        "rows_quarantined": quarantine.count(),
        "duplicates_dropped": valid.where(F.col("_copy") > 1).count() - extra_copies.count(),
    }
    by_reason = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    counts.update({f"quarantined_{r}": int(by_reason.get(r, 0)) for r in ALL_REASONS})
    return CleanResult(kept, quarantine, counts)


def _cadence_and_gaps(kept: DataFrame) -> DataFrame:
    """``cadence_s`` (median step of the series) and ``gap_before`` on every kept reading."""
    ordered = Window.partitionBy("series").orderBy("t_ns")
    steps = kept.withColumn("_step", (F.col("t_ns") - F.lag("t_ns").over(ordered)) / F.lit(1e9))
    cadence = steps.groupBy("series").agg(F.percentile_approx("_step", 0.5, 10_000).alias("cadence_s"))
    joined = steps.join(F.broadcast(cadence), "series")
    gap = F.coalesce(F.col("_step") > F.lit(GAP_FACTOR) * F.col("cadence_s"), F.lit(False))
    return joined.withColumn("gap_before", gap).withColumn("cadence_s", F.coalesce("cadence_s", F.lit(0.0)))

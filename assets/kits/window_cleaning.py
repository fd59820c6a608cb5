"""Spark cleaning of the window landing format the timeseries kit shares.

Landing format: CSV files with a header: ``id``, ``values`` (one window of a signal: numbers separated
by ``;``, or by spaces; a comma-separated cell must be quoted) and ``label`` for windows whose class
is known (empty: not labelled yet). Columns match by name; others are ignored.

Every row read ends in exactly one of ``kept`` or ``quarantine`` (``rows_in = rows_kept +
rows_quarantined``), a quarantined row with its raw fields (``raw``, JSON) and the first reason:

``malformed_row``   the CSV row is corrupt (wrong number of fields, broken quoting);
``missing_id``      the id is empty;
``not_a_number``    a value of the window is not a finite number (``NaN`` and ``inf`` included);
``too_short``       fewer values than the use case's ``min_length``;
``unknown_label``   a label outside the declared label set (``labels`` given);
``duplicate_id``    an id already kept (the first valid occurrence wins: file path, then position).

Kept rows: ``id``, ``values`` (an array of doubles) and ``label``. (The window's content key is made in
Python from these values, by the one function the stream's prepare hook uses too.)
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from assets.kits.cleaning import CORRUPT, CleanResult, read_by_header, split_rows, trimmed_or_null

REASONS: tuple[str, ...] = (
    "malformed_row",
    "missing_id",
    "not_a_number",
    "too_short",
    "unknown_label",
    "duplicate_id",
)


def _not_finite(value: Column) -> Column:
    return value.isNull() | F.isnan(value) | (F.abs(value) == float("inf"))


def _reason(min_length: int, allowed: Sequence[str] | None) -> Column:
    unknown = F.lit(False)
    if allowed:
        unknown = F.col("_label").isNotNull() & ~F.array_contains(
            F.array(*map(F.lit, allowed)), F.col("_label")
        )
    return (
        F.when(F.col(CORRUPT).isNotNull(), "malformed_row")
        .when(F.col("_id").isNull(), "missing_id")
        .when(F.exists("_values", _not_finite), "not_a_number")
        .when(F.coalesce(F.size("_values"), F.lit(0)) < min_length, "too_short")
        .when(unknown, "unknown_label")
    )


def clean_window_csv(
    spark: SparkSession, paths: Sequence[str], min_length: int = 8, labels: Sequence[str] | None = None
) -> CleanResult:
    """Kept windows (``id, values, label``) and quarantined rows with reasons."""
    columns = ("id", "values", "label")
    rows = read_by_header(spark, paths, columns, ("id", "values"), "id,values[,label]")
    parts = F.filter(F.split(F.trim(F.col("values")), r"[;,\s]+"), lambda p: p != "")
    rows = rows.withColumns(
        {
            "_id": trimmed_or_null("id"),
            "_label": trimmed_or_null("label"),
            "_values": F.when(
                trimmed_or_null("values").isNotNull(), F.transform(parts, lambda p: p.try_cast("double"))
            ),
        }
    )
    kept = [F.col("_id").alias("id"), F.col("_values").alias("values"), F.col("_label").alias("label")]
    return split_rows(rows, _reason(min_length, labels), kept, columns, "label", REASONS)

"""Spark cleaning of the tabular landing format the tabular kit shares.

Landing format: CSV files with a header: ``id``, the feature columns (numbers; an empty cell is
missing, which the trainers handle), and ``label`` for rows whose class is known (empty: not
labelled yet). Columns match by name; others are ignored.

Every row read ends in exactly one of ``kept`` or ``quarantine`` (``rows_in = rows_kept +
rows_quarantined``), a quarantined row with its raw fields (``raw``, JSON) and the first reason:

``malformed_row``   the CSV row is corrupt (wrong number of fields, broken quoting);
``missing_id``      the id is empty;
``not_a_number``    a feature cell holds something that is not a finite number (``NaN``, ``inf``);
``unknown_label``   a label outside the declared label set (``labels`` given);
``duplicate_id``    an id already kept (the first valid occurrence wins: file path, then position).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from assets.kits.cleaning import CORRUPT, CleanResult, read_by_header, split_rows, trimmed_or_null

REASONS: tuple[str, ...] = ("malformed_row", "missing_id", "not_a_number", "unknown_label", "duplicate_id")


def _reason(features: Sequence[str], allowed: Sequence[str] | None) -> Column:
    bad_number = F.lit(False)
    for feature in features:
        cell = trimmed_or_null(feature)
        number = cell.try_cast("double")
        bad_number = bad_number | (
            cell.isNotNull() & (number.isNull() | F.isnan(number) | (F.abs(number) == float("inf")))
        )
    unknown = F.lit(False)
    if allowed:
        unknown = F.col("_label").isNotNull() & ~F.array_contains(
            F.array(*map(F.lit, allowed)), F.col("_label")
        )
    return (
        F.when(F.col(CORRUPT).isNotNull(), "malformed_row")
        .when(F.col("_id").isNull(), "missing_id")
        .when(bad_number, "not_a_number")
        .when(unknown, "unknown_label")
    )


def clean_tabular_csv(
    spark: SparkSession, paths: Sequence[str], features: Sequence[str], labels: Sequence[str] | None = None
) -> CleanResult:
    """Kept rows (``id``, each feature as a double, ``label``) and quarantined ones with reasons."""
    columns = ("id", *features, "label")
    rows = read_by_header(spark, paths, columns, ("id", *features), ",".join(columns))
    rows = rows.withColumns({"_id": trimmed_or_null("id"), "_label": trimmed_or_null("label")})
    kept = [
        F.col("_id").alias("id"),
        *[trimmed_or_null(f).try_cast("double").alias(f) for f in features],
        F.col("_label").alias("label"),
    ]
    return split_rows(rows, _reason(features, labels), kept, columns, "label", REASONS)

"""Spark cleaning of the text landing format every text use case built on the kit shares.

Landing format: CSV files with a header, UTF-8, RFC 4180 quoting (quoted texts may hold commas,
quotes doubled, and newlines):

- ``id,text`` (unlabelled), ``id,text,label`` (one class per row: multi-class), or
  ``id,text,labels`` (multi-label: ``;``-separated label names, ``-`` for "none of them");
- an empty ``label``/``labels`` cell means "not labelled yet" (scored, never trained on unless the
  labeling functions or the annotation page label it); other columns are ignored.

Every row read ends in exactly one of ``kept`` or ``quarantine`` (``rows_in = rows_kept +
rows_quarantined``), a quarantined row with its raw fields (``raw``, JSON) and the first reason that
applies, in this order:

``malformed_row``   the CSV row is corrupt (wrong number of fields, broken quoting);
``missing_id``      the id is empty;
``empty_text``      the text is empty or only white space;
``unknown_label``   a label outside the declared label set (``labels`` given);
``duplicate_id``    an id already kept (the first valid occurrence wins: file path, then position).

No Dagster here; PySpark is imported by whoever calls it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from assets.kits.cleaning import CORRUPT, CleanResult, read_by_header, split_rows, trimmed_or_null

REASONS: tuple[str, ...] = ("malformed_row", "missing_id", "empty_text", "unknown_label", "duplicate_id")
COLUMNS: tuple[str, ...] = ("id", "text", "label", "labels")
NONE_OF_THEM = "-"
#: What a text cleaning returns (``kept``: ``id, text, label`` or ``labels`` as an array).
TextCleanResult = CleanResult


def _labels_array(multilabel: bool) -> Column:
    """Multi-label: the trimmed ``;``-separated names (``-``: an empty list); null when unlabelled."""
    raw = F.trim(F.col("labels"))
    names = F.filter(F.transform(F.split(raw, ";"), lambda n: F.trim(n)), lambda n: n != "")
    if not multilabel:
        return F.lit(None).cast("array<string>")
    return F.when(raw.isNull() | (raw == ""), None).when(raw == NONE_OF_THEM, F.array()).otherwise(names)


def _reason(allowed: Sequence[str] | None, multilabel: bool) -> Column:
    text_empty = F.col("text").isNull() | (F.trim(F.col("text")) == "")
    unknown = F.lit(False)
    if allowed:
        values = F.array(*[F.lit(a) for a in allowed])
        if multilabel:
            unknown = F.coalesce(F.size(F.array_except(F.col("_labels"), values)) > 0, F.lit(False))
        else:
            unknown = F.col("_label").isNotNull() & ~F.array_contains(values, F.col("_label"))
    return (
        F.when(F.col(CORRUPT).isNotNull(), "malformed_row")
        .when(F.col("_id").isNull(), "missing_id")
        .when(text_empty, "empty_text")
        .when(unknown, "unknown_label")
    )


def clean_text_csv(
    spark: SparkSession, paths: Sequence[str], labels: Sequence[str] | None = None, multilabel: bool = False
) -> CleanResult:
    """Clean landed text CSVs into kept rows and quarantined rows with reasons (see the module)."""
    rows = read_by_header(spark, paths, COLUMNS, ("id", "text"), "id,text[,label|labels]")
    rows = rows.withColumns(
        {
            "_id": trimmed_or_null("id"),
            "_label": trimmed_or_null("label"),
            "_labels": _labels_array(multilabel),
        }
    )
    label = F.col("_labels").alias("labels") if multilabel else F.col("_label").alias("label")
    kept = [F.col("_id").alias("id"), F.col("text"), label]
    return split_rows(
        rows, _reason(labels, multilabel), kept, COLUMNS, "labels" if multilabel else "label", REASONS
    )

"""Spark cleaning of the disaster-response messages and their 36 category annotations.

A *record* is one row read from the messages files. Every record ends in exactly one of two frames,
``kept`` or ``quarantine``, so ``rows_in == rows_kept + rows_quarantined`` always holds and nothing
is silently dropped: a quarantined record carries a JSON rendering of what was read (``raw``) and the
first reason that applies, in this order:

``malformed_row``
    the CSV row is corrupt (wrong number of fields, broken quoting), the id is not an integer or
    the message text is empty.
``no_categories``
    no categories row has the record's id.
``malformed_categories``
    the categories string does not hold exactly the expected ``name-value`` fields, or a value is
    not an integer.
``related_2``
    ``related`` is 2. The source annotations use 2 for messages whose relevance the annotators could
    not settle; mapping it to 0 or 1 would invent a label, so these records are quarantined (and
    stay available for human annotation) rather than guessed.
``non_binary_label``
    any other value outside {0, 1}.
``duplicate``
    an id already kept. The first otherwise valid occurrence wins, in a deterministic order: source
    file path (lexicographic, so dated batch files keep arrival order), then position in the file.

The label names and their order come from the data (the most common ``name`` sequence among the
categories rows), not from a hard-coded list. Categories rows are joined by id; when an id has
several (the public data set has 60 such extra rows, some disagreeing), the first one in the same
file-then-position order is used, which pairs it with the kept message occurrence because both files
list duplicates in the same order. Fields are matched by name, so their order may vary by row.
Categories rows whose id matches no message are counted as ``orphan_category_rows``: metadata
about the input, not records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

REASONS: tuple[str, ...] = (
    "malformed_row",
    "no_categories",
    "malformed_categories",
    "related_2",
    "non_binary_label",
    "duplicate",
)
MESSAGE_COLUMNS: tuple[str, ...] = ("id", "message", "original", "genre")
CATEGORY_COLUMNS: tuple[str, ...] = ("id", "categories")
_CORRUPT = "_corrupt_record"
_FIELD = r"^(.*)-([^-]*)$"  # "name-value"; names may hold underscores but the value follows the last dash
_INTEGER = r"^\s*-?\d+\s*$"


@dataclass
class CleanResult:
    """``kept`` and ``quarantine`` are checkpointed: writing or counting them does not re-read the CSVs.

    ``counts``: ``rows_in``, ``rows_kept``, ``rows_quarantined``, ``quarantined_<reason>`` for every
    reason (zeros included), ``category_rows_in`` and ``orphan_category_rows``.
    """

    kept: DataFrame
    quarantine: DataFrame
    labels: list[str]
    counts: dict[str, int]


def _read_csv(spark: SparkSession, paths: Sequence[str], columns: Sequence[str]) -> DataFrame:
    """Every column as a string plus the corrupt-record column, so no row is rejected at read time.

    ``multiLine`` keeps quoted messages with newlines whole; a file is then read by one task, in
    order, which makes ``monotonically_increasing_id`` a faithful position within the file.
    """
    schema = T.StructType([T.StructField(c, T.StringType()) for c in [*columns, _CORRUPT]])
    return (
        spark.read.schema(schema)
        .options(
            header=True,
            multiLine=True,
            escape='"',
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=_CORRUPT,
        )
        .csv(list(paths))
        .withColumn("_file", F.col("_metadata.file_path"))
        .withColumn("_pos", F.monotonically_increasing_id())
    )


def _parse_id(raw: Column) -> Column:
    trimmed = F.trim(raw)
    return F.when(trimmed.rlike(r"^-?\d+$"), trimmed.try_cast("long"))


def _first_per_id(id_col: str, *order: Column | str) -> Column:
    """True for the first row of each id in ``order`` (then file, then position in the file)."""
    return F.row_number().over(Window.partitionBy(id_col).orderBy(*order, "_file", "_pos")) == 1


def _label_names(categories: DataFrame) -> list[str]:
    """The most frequent sequence of category names (ties: the one seen first)."""
    row = (
        categories.where(F.col("_names").isNotNull())
        .groupBy("_names")
        .agg(F.count("*").alias("n"), F.min(F.struct("_file", "_pos")).alias("first"))
        .orderBy(F.desc("n"), "first")
        .first()
    )
    return list(row["_names"]) if row else []


def _field_value(field: Column) -> Column:
    """The integer after the last dash of ``name-value``; null when it is not an integer."""
    value = F.regexp_extract(field, _FIELD, 2)
    return F.when(value.rlike(_INTEGER), F.trim(value).try_cast("int"))


def _parse_categories(spark: SparkSession, paths: Sequence[str]) -> tuple[DataFrame, list[str]]:
    """Categories rows with their id, names and integer values (null where a value is not an integer).

    Checkpointed: the rows are read once although the labels, the join and the counts all use them.
    """
    fields = F.split(F.col("categories"), ";")
    parsed = (
        _read_csv(spark, paths, CATEGORY_COLUMNS)
        .select(
            _parse_id(F.col("id")).alias("_cid"),
            "categories",
            F.transform(fields, lambda f: F.regexp_extract(f, _FIELD, 1)).alias("_names"),
            F.transform(fields, _field_value).alias("_values"),
            "_file",
            "_pos",
        )
        .localCheckpoint()
    )
    return parsed, _label_names(parsed)


def _category_checks(labels: list[str]) -> tuple[Column, Column, Column]:
    """(well formed, related is 2, some value outside {0, 1}) for a parsed categories row."""
    well_formed = F.coalesce(  # an empty categories string gives null arrays: malformed, not kept
        (F.size("_names") == len(labels))
        & (F.array_sort("_names") == F.array(*[F.lit(n) for n in sorted(labels)]))
        & F.forall("_values", lambda v: v.isNotNull()),
        F.lit(False),
    )
    related_2 = (
        F.try_element_at("_values", F.array_position("_names", "related").cast("int")) == 2
        if "related" in labels
        else F.lit(False)
    )
    non_binary = F.exists("_values", lambda v: ~v.isin(0, 1))
    return well_formed, related_2, non_binary


def clean_disaster(
    spark: SparkSession, messages_paths: list[str], categories_paths: list[str]
) -> CleanResult:
    """Join messages with their categories, one int 0/1 column per label; quarantine the rest.

    Paths may be files, directories or globs, local or remote (anything ``spark.read.csv`` takes).
    """
    messages = (
        _read_csv(spark, messages_paths, MESSAGE_COLUMNS)
        .withColumn("_mid", _parse_id(F.col("id")))
        .localCheckpoint()  # read once: the result and the orphan count both use it
    )
    categories, labels = _parse_categories(spark, categories_paths)
    first_categories = (
        categories.where(F.col("_cid").isNotNull())
        .withColumn("_first", _first_per_id("_cid"))
        .where("_first")
        .drop("_first", "_file", "_pos")
    )
    joined = messages.join(
        first_categories.withColumnRenamed("categories", "_categories"),
        messages["_mid"] == first_categories["_cid"],
        "left",
    )
    well_formed, related_2, non_binary = _category_checks(labels)
    missing_text = F.col("message").isNull() | F.col("message").rlike(r"^\s*$")
    reason = (
        F.when(F.col(_CORRUPT).isNotNull() | F.col("_mid").isNull() | missing_text, "malformed_row")
        .when(F.col("_cid").isNull(), "no_categories")
        .when(~well_formed, "malformed_categories")
        .when(related_2, "related_2")
        .when(non_binary, "non_binary_label")
    )
    classified = joined.withColumn("reason", reason)
    # Ranked among valid rows first, so an earlier quarantined occurrence does not shadow a good one.
    seen_before = ~_first_per_id("_mid", F.col("reason").isNotNull())
    classified = classified.withColumn(
        "reason", F.when(F.col("reason").isNull() & seen_before, "duplicate").otherwise(F.col("reason"))
    )
    label_values = [
        F.when(
            F.col("reason").isNull(),
            F.try_element_at("_values", F.array_position("_names", name).cast("int")),
        )
        .cast("int")
        .alias(name)
        for name in labels
    ]
    raw_json = F.to_json(
        F.struct(
            *[F.col(c) for c in MESSAGE_COLUMNS], F.col("_categories").alias("categories"), F.col(_CORRUPT)
        )
    )
    # One parse and one shuffle for everything below; later reads of kept/quarantine are cheap and stable.
    result = (
        classified.select(
            F.col("_mid").alias("id"),
            "message",
            "original",
            "genre",
            *label_values,
            "reason",
            F.col("_file").alias("source_file"),
            raw_json.alias("raw"),
            "_file",
            "_pos",
        )
        .orderBy("_file", "_pos")
        .drop("_file", "_pos")
        .localCheckpoint()
    )
    kept = result.where(F.col("reason").isNull()).select("id", "message", "original", "genre", *labels)
    quarantine = result.where(F.col("reason").isNotNull()).select("id", "source_file", "reason", "raw")

    by_reason = {r["reason"]: r["count"] for r in result.groupBy("reason").count().collect()}
    message_ids = messages.where(F.col("_mid").isNotNull()).select(F.col("_mid").alias("_cid")).distinct()
    counts = {
        # Counted on the input, not derived from the outputs, so the invariant is a real check.
        "rows_in": messages.count(),
        "rows_kept": by_reason.get(None, 0),
        "rows_quarantined": sum(n for r, n in by_reason.items() if r is not None),
        **{f"quarantined_{r}": by_reason.get(r, 0) for r in REASONS},
        "category_rows_in": categories.count(),
        "orphan_category_rows": categories.join(message_ids, "_cid", "left_anti").count(),
    }
    return CleanResult(kept=kept, quarantine=quarantine, labels=labels, counts=counts)


def parse_categories(categories: pd.Series) -> pd.DataFrame:
    """The pandas counterpart for well-formed strings (``related-1;request-0;...``): one int column
    per name, in order. For small in-memory frames (tests, notebooks); it raises on malformed input
    instead of quarantining, which is what :func:`clean_disaster` is for."""
    fields = categories.str.split(";", expand=True)
    names = fields.iloc[0].str.rsplit("-", n=1).str[0].tolist()
    values = {name: fields[i].str.rsplit("-", n=1).str[1].astype(int) for i, name in enumerate(names)}
    return pd.DataFrame(values, index=categories.index)

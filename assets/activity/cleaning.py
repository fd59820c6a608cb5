"""Spark cleaning of the three activity layouts, and 10 s windows from clean raw rows.

Files are read as text so that every line is accounted for: each non-header line is a *record* and
ends in exactly one of ``kept`` (typed columns) or ``quarantine`` (``source_file``, ``line``,
``reason``, ``raw``), so ``rows_in == rows_kept + rows_quarantined``; ``rows_in`` is counted from the
lines read, not from the outputs, so the invariant is a real check. The first reason that applies:

``wrong_field_count``
    the line does not split into the layout's number of fields (blank lines included).
``bad_timestamp``
    ``stamp`` is not ``YYYY-MM-DD HH:MM:SS[.ffffff]`` or not a real date/time.
``missing_value``
    a motion value that every record must carry is empty (the nine motion fields of a raw row, the six
    signals of every window step). Location, battery and label fields may be empty.
``non_numeric``
    a numeric field holds something that is not a finite number.
``duplicate_stamp``
    raw layout only: a participant already has a valid row with this ``stamp`` (the first line wins),
    which would otherwise put two samples into one 10 Hz step.

Line numbers are true 1-based line numbers in each file, computed without leaving the JVM: a text
scan reads each file split in order, so a row's position is its ``monotonically_increasing_id``
minus the first id of its split, plus the lines in the file's earlier splits. Stamps are parsed as
``timestamp_ntz``: the CASAS files carry local wall-clock time without a zone, and no session time
zone should shift it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from assets.activity.layouts import (
    FEATURE_COLUMNS,
    HEADER_LINES,
    LABEL_COLUMN,
    MOTION_FIELDS,
    RAW_FIELDS,
    RAW_TYPES,
    WINDOW_COLUMNS,
    WINDOW_LOCATION,
    WINDOW_SIGNALS,
    WINDOW_STEPS,
    Layout,
    detect_layout,
)

REASONS: tuple[str, ...] = (
    "wrong_field_count",
    "bad_timestamp",
    "missing_value",
    "non_numeric",
    "duplicate_stamp",
)
QUARANTINE_COLUMNS: tuple[str, ...] = ("source_file", "line", "reason", "raw")
_HEADER = "_header"
_STAMP = r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}(?:\.\d{1,6})?)$"
_QUOTE_AWARE_COMMA = r',(?=(?:[^"]*"[^"]*")*[^"]*$)'
# Field kinds: not numeric (stamp, strings), numeric that may be empty, numeric that must be present.
_TEXT, _OPTIONAL, _REQUIRED = 0, 1, 2


@dataclass
class CleanResult:
    kept: DataFrame
    quarantine: DataFrame
    counts: dict[str, int]


def read_lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """``source_file``, ``line`` (1-based, true line number in its file) and ``raw`` for every line."""
    text = spark.read.text(list(paths)).select(
        F.col("_metadata.file_path").alias("source_file"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_id"),
        F.col("value").alias("raw"),
    )
    in_file = Window.partitionBy("source_file").orderBy("_block")
    blocks = (
        text.groupBy("source_file", "_block")
        .agg(F.min("_id").alias("_first"), F.count("*").alias("_lines"))
        .withColumn(
            "_before",
            F.coalesce(F.sum("_lines").over(in_file.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0)),
        )
    )
    return text.join(F.broadcast(blocks), ["source_file", "_block"]).select(
        "source_file", (F.col("_before") + F.col("_id") - F.col("_first") + 1).alias("line"), "raw"
    )


def _split(raw: Column) -> Column:
    """CSV fields; the (slow) quote-aware split only for the rare lines that contain a quote."""

    def unquote(field: Column) -> Column:
        inner = F.regexp_extract(field, r'^\s*"(.*)"\s*$', 1)
        return F.when(field.rlike(r'^\s*".*"\s*$'), F.regexp_replace(inner, '""', '"')).otherwise(field)

    quoted = F.transform(F.split(raw, _QUOTE_AWARE_COMMA, -1), unquote)
    return F.when(raw.contains('"'), quoted).otherwise(F.split(raw, ",", -1))


def _timestamp(text: Column) -> Column:
    """``timestamp_ntz`` of a CASAS stamp; null when malformed or not a real date (e.g. 30 February)."""

    def part(i: int, kind: str = "int") -> Column:
        return F.regexp_extract(F.trim(text), _STAMP, i).try_cast(kind)

    return F.try_make_timestamp_ntz(
        years=part(1), months=part(2), days=part(3), hours=part(4), mins=part(5), secs=part(6, "decimal(8,6)")
    )


def _classify(lines: DataFrame, layout: Layout, names: Sequence[str], kinds: Sequence[int]) -> DataFrame:
    """Lines with ``stamp``, the text fields, all numeric fields as one ``_numeric`` array, and the
    first reason that applies (null = valid).

    Each line is split once, its numeric fields are cast once, and the checks use array functions
    only: lambdas (``transform``, ``filter``) are interpreted element by element and cost more than
    everything else here together. Header lines are marked ``_header``, not dropped, so the caller
    can check them.
    """
    numeric = [i for i, kind in enumerate(kinds) if kind != _TEXT]
    required = [i for i, kind in enumerate(kinds) if kind == _REQUIRED]

    def fields_array(indices: Sequence[int]) -> Column:
        """The fields at ``indices`` as slices of consecutive fields (one for all 800 window values):
        an element per field would generate more code than the JVM compiles in one method."""
        runs: list[list[int]] = []
        for i in indices:
            if runs and runs[-1][0] + runs[-1][1] == i:
                runs[-1][1] += 1
            else:
                runs.append([i, 1])
        slices = [F.slice("_fields", start + 1, length) for start, length in runs]
        return F.concat(*slices) if slices else F.array().cast("array<string>")

    # A non-empty field that does not parse is a null among the non-empty fields cast to double.
    parsed = F.array_remove("_numeric_text", "").try_cast("array<double>")
    unparsed = F.size(F.array_intersect(parsed, F.array(F.lit(None).cast("double")))) > 0
    highest, lowest = F.array_max("_numeric"), F.array_min("_numeric")  # NaN sorts above +inf
    not_finite = F.coalesce(
        F.isnan(highest) | (F.abs(highest) == float("inf")) | (lowest == float("-inf")), F.lit(False)
    )
    reason = (
        F.when(F.size("_fields") != len(names), "wrong_field_count")
        .when(F.col("stamp").isNull(), "bad_timestamp")
        .when(F.array_contains(fields_array(required), ""), "missing_value")
        .when(unparsed | not_finite, "non_numeric")
    )
    text = [
        f"nullif(trim(try_element_at(_fields, {i + 1})), '') AS `{name}`"
        for i, (name, kind) in enumerate(zip(names, kinds, strict=True))
        if kind == _TEXT and name != "stamp"
    ]
    header = F.col("line") <= HEADER_LINES[layout]
    return (
        lines.withColumn("_fields", _split(F.col("raw")))
        .withColumn("_numeric_text", fields_array(numeric))
        .withColumn("_numeric", F.col("_numeric_text").try_cast("array<double>"))
        .withColumn("stamp", _timestamp(F.try_element_at("_fields", F.lit(1))))
        .withColumn(_HEADER, header)
        .withColumn("reason", F.when(~header, reason))
        .selectExpr("source_file", "line", "raw", _HEADER, "reason", "stamp", *text, "_numeric")
    )


def _typed(names: Sequence[str], kinds: Sequence[int]) -> list[str]:
    """The record's columns, numeric ones taken out of ``_numeric`` only after the checkpoint: one
    stage computing both the checks and 800 columns exceeds the JVM's 64 KB method limit."""
    position = {
        name: j for j, name in enumerate(n for n, kind in zip(names, kinds, strict=True) if kind != _TEXT)
    }
    return [f"_numeric[{position[name]}] AS `{name}`" if name in position else f"`{name}`" for name in names]


def _check_headers(classified: DataFrame, layout: Layout) -> None:
    """Refuse files whose header is not ``layout``'s: cleaning them would quarantine every row wrongly."""
    heads: dict[str, list[tuple[int, str]]] = {}
    for row in classified.where(_HEADER).select("source_file", "line", "raw").collect():
        heads.setdefault(row["source_file"], []).append((row["line"], row["raw"]))
    wrong = sorted(f for f, lines in heads.items() if detect_layout([r for _, r in sorted(lines)]) != layout)
    if wrong:
        raise ValueError(f"not in the {layout!r} layout (route files with detect_layout first): {wrong}")


def _finish(classified: DataFrame, layout: Layout, kept_columns: Sequence[str]) -> CleanResult:
    """Materialise once, check headers, split into kept (``kept_columns``: SQL expressions) and
    quarantine, and count."""
    result = classified.localCheckpoint()
    _check_headers(result, layout)
    records = result.where(~F.col(_HEADER))
    by_reason = {r["reason"]: r["count"] for r in records.groupBy("reason").count().collect()}
    lines_per_file = result.groupBy("source_file").agg(F.max("line").alias("n")).collect()
    rows_in = sum(max(0, r["n"] - HEADER_LINES[layout]) for r in lines_per_file)
    counts = {
        "rows_in": rows_in,
        "rows_kept": by_reason.get(None, 0),
        "rows_quarantined": sum(n for r, n in by_reason.items() if r is not None),
        **{f"quarantined_{r}": by_reason.get(r, 0) for r in REASONS},
    }
    return CleanResult(
        kept=records.where(F.col("reason").isNull()).selectExpr(*kept_columns),
        quarantine=records.where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS),
        counts=counts,
    )


def clean_raw(
    spark: SparkSession,
    paths: Sequence[str],
    label_span_seconds: float = 300,
    activity_mapping: Mapping[str, str] | None = None,
) -> CleanResult:
    """Raw participant files (layout a) → typed 10 Hz rows with ``participant`` and ``activity_label``.

    ``participant`` is the file name without its extension. A participant answers a prompt *after*
    doing the activity, so each label is copied back to that participant's unlabelled rows up to
    ``label_span_seconds`` before it; where spans overlap, the nearest following label wins (a later
    answer describes what happened after the earlier one). ``user_activity_label`` keeps the answer
    as given; ``activity_label`` is the propagated label, passed through ``activity_mapping`` (raw
    answer → class, e.g. ``activity_mapping.csv``) when given; answers it lacks stay as they are.
    """
    kinds = [
        _TEXT if kind != "f" else _REQUIRED if name in MOTION_FIELDS else _OPTIONAL
        for name, kind in zip(RAW_FIELDS, RAW_TYPES, strict=True)
    ]
    classified = (
        _classify(read_lines(spark, paths), "raw", RAW_FIELDS, kinds)
        .withColumn("participant", F.regexp_extract("source_file", r"([^/]+?)(\.[^./]*)?$", 1))
        .withColumn("_valid", F.col("reason").isNull() & ~F.col(_HEADER))
    )
    # Valid rows are set apart by partitioning, not by a filter: Spark would push a filter below the
    # parsing and repeat the line split for every field it checks.
    by_time = Window.partitionBy("participant", "_valid").orderBy("stamp", "source_file", "line")
    repeated = F.col("_valid") & (F.lag("stamp").over(by_time) == F.col("stamp"))
    classified = classified.withColumn(
        "reason", F.when(repeated, "duplicate_stamp").otherwise(F.col("reason"))
    )
    keep = F.col("_valid") & F.col("reason").isNull()
    # Nearest answer at or after each row; a descending running frame keeps this linear in the rows.
    backwards = (
        Window.partitionBy("participant", "_valid")
        .orderBy(F.desc("stamp"))
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    answer = F.when(keep & F.col("user_activity_label").isNotNull(), F.struct("stamp", "user_activity_label"))
    following = F.last(answer, ignorenulls=True).over(backwards)
    span = F.make_dt_interval(secs=F.lit(float(label_span_seconds)))
    label = F.when(following["stamp"] - F.col("stamp") <= span, following["user_activity_label"])
    if activity_mapping:
        mapping = F.create_map(*[F.lit(x) for pair in sorted(activity_mapping.items()) for x in pair])
        label = F.coalesce(F.try_element_at(mapping, label), label)
    labelled = classified.withColumn(LABEL_COLUMN, F.when(keep, label)).drop("_valid")
    return _finish(labelled, "raw", ["participant", *_typed(RAW_FIELDS, kinds), LABEL_COLUMN])


def clean_windows(spark: SparkSession, paths: Sequence[str], keep_position: bool = False) -> CleanResult:
    """Window files (layout b) → ``stamp``, 800 doubles (location may be null), ``activity_label``.

    ``keep_position`` adds ``source_file`` and ``line`` in front, so checks can see file order.
    """
    kinds = [
        _TEXT
        if name in ("stamp", LABEL_COLUMN)
        else _OPTIONAL
        if name.startswith(WINDOW_LOCATION)
        else _REQUIRED
        for name in WINDOW_COLUMNS
    ]
    classified = _classify(read_lines(spark, paths), "windows", WINDOW_COLUMNS, kinds)
    position = ["source_file", "line"] if keep_position else []
    return _finish(classified, "windows", [*position, *_typed(WINDOW_COLUMNS, kinds)])


def clean_features(spark: SparkSession, paths: Sequence[str]) -> CleanResult:
    """Feature files (layout c) → ``stamp``, 38 doubles (any may be null), ``activity_label``."""
    kinds = [_TEXT if name in ("stamp", LABEL_COLUMN) else _OPTIONAL for name in FEATURE_COLUMNS]
    classified = _classify(read_lines(spark, paths), "features", FEATURE_COLUMNS, kinds)
    return _finish(classified, "features", _typed(FEATURE_COLUMNS, kinds))


def clean(spark: SparkSession, layout: Layout, paths: Sequence[str]) -> CleanResult:
    """Dispatch on the layout :func:`detect_layout` found (raw files with the default label span)."""
    return {"raw": clean_raw, "windows": clean_windows, "features": clean_features}[layout](spark, paths)


def build_windows(
    rows: DataFrame, max_gap_seconds: float = 0.15, keep_participant: bool = False
) -> DataFrame:
    """Clean raw rows (from :func:`clean_raw`) → layout-(b) windows of ``WINDOW_STEPS`` consecutive rows.

    Rows are consecutive when less than ``max_gap_seconds`` apart (10 Hz gives 0.1 s); a longer gap
    (watch charging, off the wrist) starts a new run, each run is cut into windows from its first row,
    and a run's last incomplete window is dropped, so no window spans a gap. ``stamp`` is the window's
    first stamp. ``activity_label`` is the label held by more than half of the window's rows, else
    null: unlabelled windows are kept, as candidates for annotation, and trainers filter them out.
    The raw files carry no distance or bearing from home, so those columns are null.
    """
    order = Window.partitionBy("participant").orderBy("stamp")
    gap = (F.col("stamp") - F.lag("stamp").over(order)) > F.make_dt_interval(
        secs=F.lit(float(max_gap_seconds))
    )
    positioned = (
        rows.withColumn("_row", F.row_number().over(order))
        .withColumn("_run_start", F.when(F.coalesce(gap, F.lit(True)), F.col("_row")))
        .withColumn("_run_start", F.max("_run_start").over(order.rowsBetween(Window.unboundedPreceding, 0)))
        .withColumn("_pos", F.col("_row") - F.col("_run_start"))
    )
    windows = positioned.groupBy(
        "participant", "_run_start", F.floor(F.col("_pos") / WINDOW_STEPS).alias("_window")
    ).agg(
        F.min("stamp").alias("stamp"),
        F.sort_array(F.collect_list(F.struct("_pos", *WINDOW_SIGNALS))).alias("_steps"),
        F.collect_list(LABEL_COLUMN).alias("_labels"),  # nulls are skipped
        F.mode(LABEL_COLUMN, deterministic=True).alias("_mode"),
    )
    votes = F.size(F.filter("_labels", lambda label: label == F.col("_mode")))
    steps = [
        (F.col("_steps")[i][field] if field in WINDOW_SIGNALS else F.lit(None).cast("double")).alias(
            f"{field}_{i + 1}"
        )
        for i in range(WINDOW_STEPS)
        for field in (*WINDOW_SIGNALS, *WINDOW_LOCATION)
    ]
    return windows.where(F.size("_steps") == WINDOW_STEPS).select(
        *(["participant"] if keep_participant else []),
        "stamp",
        *steps,
        F.when(votes * 2 > WINDOW_STEPS, F.col("_mode")).alias(LABEL_COLUMN),
    )

"""Spark cleaning of landed Sparkify logs: explicit 18-field schema, quarantine with reasons.

Every line of a file is one of: a **user event** (auth ``Logged In`` or ``Cancelled`` with a
``userId``), an **anonymous event** (``Logged Out`` or ``Guest``: no user, kept apart), or
**quarantined** with the first reason that applies:

``not_json``
    not a JSON object (blank lines included);
``wrong_types``
    a field of the wrong JSON type (``"ts": "abc"``, ``"length": "x"``, ``"sessionId": 1.5``, and a
    number sent as a JSON string, ``"ts": "1543537327796"``);
``no_ts``
    no ``ts``;
``logged_in_without_user``
    auth ``Logged In``/``Cancelled`` but ``userId`` missing or empty;
``duplicate_event``
    a second line with the same ``(userId, sessionId, itemInSession, ts)`` in the file (the first
    kept); events without a session or item are only duplicates of an event at the same ``ts``.

Each line is parsed once with ``from_json`` straight into the explicit schema; the few lines it
refuses are parsed again to tell a wrongly typed field from a line that is no JSON object (see
:func:`parse_lines`). Rows in = kept + anonymous + quarantined, always.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from assets.sparkify.events import FIELD_TYPES, FIELDS, USER_AUTHS, spark_schema

#: Per-file outputs, one ``slot=<file>`` folder each: user events, logged-out/guest events, quarantine.
SLOT_TABLES = ("events_slots", "anonymous_slots", "quarantine")
REASONS = ("not_json", "wrong_types", "no_ts", "logged_in_without_user", "duplicate_event")
EVENT_KEY = ("userId", "sessionId", "itemInSession")
#: What makes two lines one event: the key *and* its time. By the key alone, events that lack
#: ``sessionId``/``itemInSession`` (nulls group together) would all but one become duplicates.
DUPLICATE_KEY = (*EVENT_KEY, "ts")
#: The day a daily file's name says (``2018-11-01-events.json``).
DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass
class CleanResult:
    events: Any  # Spark DataFrame: the 18 fields + source_file, source_day
    anonymous: Any
    quarantine: Any  # source_file, reason, raw
    counts: dict[str, int]


def file_day(name: str) -> str | None:
    """``YYYY-MM-DD`` from a daily file's name, or None (one big file)."""
    match = DAY_IN_NAME.search(name.rsplit("/", 1)[-1])
    return match.group(1) if match else None


_CORRUPT = "_corrupt_record"
#: The numeric fields of the schema (``ts``, ``registration``, ``length``, ...).
NUMERIC_FIELDS = tuple(name for name, kind in FIELD_TYPES.items() if kind != "string")
DOUBLE_FIELDS = tuple(name for name, kind in FIELD_TYPES.items() if kind == "double")


def parse_lines(lines: Any) -> Any:
    """``value`` lines → ``raw`` plus the 18 typed fields and ``reason`` (null for a clean line; the
    duplicate rule is :func:`mark_duplicates`').

    One JSON parse per line straight into the explicit schema (Spark's JSON reader refuses a number
    sent as a JSON string, ``"ts": "123"``, a fraction in a long field and a long that overflows: the
    line lands in the corrupt-record column). Only such lines are parsed again, every field as a
    string, to tell a JSON object with a wrongly typed field (``wrong_types``) from a line that is
    no JSON object at all (``not_json``). ``NaN`` and ``Infinity``, which the reader lets through
    for doubles, are wrong types too.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    typed = T.StructType([*spark_schema().fields, T.StructField(_CORRUPT, T.StringType(), True)])
    probe = T.StructType([T.StructField("ts", T.StringType()), T.StructField(_CORRUPT, T.StringType())])
    options = {"columnNameOfCorruptRecord": _CORRUPT, "mode": "PERMISSIVE"}
    parsed = lines.select(F.col("value").alias("raw"), F.from_json("value", typed, options).alias("s"))
    refused = F.col("s").isNull() | F.col(f"s.{_CORRUPT}").isNotNull()
    # Evaluated for refused lines only (a CASE branch): an object of strings parses any JSON object.
    as_object = F.when(refused, F.from_json("raw", probe, options))
    not_json = refused & (as_object.isNull() | as_object[_CORRUPT].isNotNull())
    non_finite = F.lit(False)
    for name in DOUBLE_FIELDS:
        value = F.col(f"s.{name}")
        non_finite = non_finite | F.isnan(value) | (F.abs(value) == float("inf"))
    wrong = (refused & ~not_json) | F.coalesce(non_finite, F.lit(False))
    user_auth = F.col("auth").isin(*USER_AUTHS)
    no_user = F.col("userId").isNull() | (F.trim(F.col("userId")) == "")
    rows = parsed.select(
        "raw", *[F.col(f"s.{name}").alias(name) for name in FIELDS], not_json.alias("_nj"), wrong.alias("_wt")
    )
    reason = (
        F.when(F.col("_nj"), "not_json")
        .when(F.col("_wt"), "wrong_types")
        .when(F.col("ts").isNull(), "no_ts")
        .when(user_auth & no_user, "logged_in_without_user")
    )
    return rows.select("raw", *FIELDS, reason.alias("reason")).withColumn(
        "userId", F.coalesce(F.col("userId"), F.lit(""))
    )


def mark_duplicates(rows: Any) -> Any:
    """The second and later clean lines of one :data:`DUPLICATE_KEY` become ``duplicate_event``
    (the smallest line kept); the raw line is kept
    only where the quarantine needs it: a kept line is its typed fields, and carrying every raw line
    on (checkpoints, the events tables) would double what Spark stores."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = Window.partitionBy(*DUPLICATE_KEY).orderBy("raw")
    clean = F.col("reason").isNull()
    ranked = rows.withColumn("_n", F.when(clean, F.row_number().over(key)))
    reason = F.when(clean & (F.col("_n") > 1), F.lit("duplicate_event")).otherwise(F.col("reason"))
    return (
        ranked.withColumn("reason", reason)
        .withColumn("raw", F.when(F.col("reason").isNotNull(), F.col("raw")))
        .drop("_n")
    )


def classify(lines: Any) -> Any:
    """``value`` lines → the typed fields plus ``reason`` (null for a clean line) and ``raw`` (the
    line as it came, for quarantined lines only): :func:`parse_lines`, then :func:`mark_duplicates`."""
    return mark_duplicates(parse_lines(lines))


def clean_file(spark: Any, path: str, source: str) -> CleanResult:
    """Clean one landed file (``path`` read, ``source`` recorded as where the lines came from)."""
    from pyspark.sql import functions as F

    rows = classify(spark.read.text(path)).localCheckpoint()
    day = file_day(source)
    stamped = rows.withColumn("source_file", F.lit(source)).withColumn(
        "source_day", F.lit(day).cast("string")
    )
    kept = stamped.where(F.col("reason").isNull())
    user = F.col("auth").isin(*USER_AUTHS)
    events = kept.where(user).select(*FIELDS, "source_file", "source_day")
    anonymous = kept.where(~user | F.col("auth").isNull()).select(*FIELDS, "source_file", "source_day")
    quarantine = stamped.where(F.col("reason").isNotNull()).select("source_file", "reason", "raw")
    # One job counts every reason and the kept anonymous events.
    is_user = F.coalesce(F.col("auth").isin(*USER_AUTHS), F.lit(False)).alias("is_user")
    grouped = rows.groupBy("reason", is_user).count().collect()
    by_reason: dict[str | None, int] = {}
    for r in grouped:
        by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + r["count"]
    counts = {
        "rows_in": sum(by_reason.values()),
        "rows_kept": int(by_reason.get(None, 0)),
        "rows_quarantined": sum(v for k, v in by_reason.items() if k is not None),
        **{f"quarantined_{r}": int(by_reason.get(r, 0)) for r in REASONS},
    }
    counts["anonymous_events"] = sum(r["count"] for r in grouped if r["reason"] is None and not r["is_user"])
    counts["user_events"] = counts["rows_kept"] - counts["anonymous_events"]
    if counts["rows_in"] != counts["rows_kept"] + counts["rows_quarantined"]:
        raise AssertionError(f"{source}: rows in != kept + quarantined: {counts}")
    return CleanResult(events, anonymous, quarantine, counts)


def clean_to_slot(spark: Any, path: str, source: str, tables_root: str, slot: str) -> dict[str, Any]:
    """Clean one landed file into its slot of :data:`SLOT_TABLES` (overwritten: a re-ingest never
    duplicates); returns the counts and the paths written.

    The ``sparkify_file`` asset calls it in its own session (``FLYWHEEL_SPARK_LAUNCH=session``), and
    ``scripts/spark_jobs/sparkify_clean.py`` inside ``spark-submit`` (``pipes``): the same tables and
    counts either way.
    """
    from assets.slots import write_slot

    result = clean_file(spark, path, source)
    paths = {}
    for table, frame in zip(SLOT_TABLES, (result.events, result.anonymous, result.quarantine), strict=True):
        # Replaced in one step: sparkify_events never sees this file's slot missing.
        paths[table] = write_slot(frame, f"{tables_root.rstrip('/')}/{table}/slot={slot}")
    return {**result.counts, "paths": paths}

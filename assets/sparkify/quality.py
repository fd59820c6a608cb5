"""What the clean Sparkify events table must satisfy, as Great Expectations expectations.

The events table may be 12 GB, so GX does not read it: Spark reduces it to a **profile** with one row
per (source file, observed value) and the checks run on that (``profile_events``). Each check is
``prepare`` (the profile rows it reads) and ``expectations``:

* ``sparkify_ts_plausible``: every file's ``ts`` within its plausible range (a daily file: its day
  with a day's slack either side; any file: 2000-01-01 to tomorrow);
* ``sparkify_known_values``: ``page``, ``auth`` and ``level`` in the known sets (an unknown value is
  reported with its count, and kept in the table);
* ``sparkify_song_length_positive``: ``length`` present and positive on every NextSong;
* ``sparkify_event_key_unique``: ``(userId, sessionId, itemInSession)`` unique.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assets.sparkify.events import AUTHS, LEVELS, PAGES

if TYPE_CHECKING:
    import pandas as pd

DAY_MS = 86_400_000
EARLIEST_MS = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)


def profile_events(events: Any, anonymous: Any) -> pd.DataFrame:
    """The check profile (pandas) of the clean events (Spark DataFrames): one row per kind of finding.

    Columns: ``kind`` (``file``, ``page``, ``auth``, ``level``, ``songs``, ``keys``), ``source_file``,
    ``value``, ``rows``, ``ts_min``, ``ts_max``, ``ts_low``, ``ts_high``, ``bad``.
    """
    import pandas as pd
    from pyspark.sql import functions as F

    both = events.unionByName(anonymous)
    tomorrow = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).timestamp() * 1000)
    files = (
        both.groupBy("source_file", "source_day")
        .agg(F.count("*").alias("rows"), F.min("ts").alias("ts_min"), F.max("ts").alias("ts_max"))
        .toPandas()
    )
    day_ms = pd.to_datetime(files["source_day"], utc=True, errors="coerce").astype("int64") // 1_000_000
    has_day = files["source_day"].notna()
    files["ts_low"] = (day_ms - DAY_MS).where(has_day, EARLIEST_MS).astype("int64")
    files["ts_high"] = (day_ms + 2 * DAY_MS).where(has_day, tomorrow).astype("int64")
    files["bad"] = ((files["ts_min"] < files["ts_low"]) | (files["ts_max"] >= files["ts_high"])).astype(int)
    rows = [files.assign(kind="file", value=files["source_day"].fillna(""))]
    # page, auth and level values counted in one pass (one Spark job, not three).
    pairs = F.explode(
        F.array(
            *[
                F.struct(F.lit(c).alias("kind"), F.coalesce(F.col(c), F.lit("<null>")).alias("value"))
                for c in ("page", "auth", "level")
            ]
        )
    )
    values = both.select(pairs.alias("p")).groupBy("p.kind", "p.value").count().toPandas()
    rows.append(values.rename(columns={"count": "rows"}))
    song = F.col("page") == "NextSong"
    bad_length = song & (F.col("length").isNull() | (F.col("length") <= 0))
    songs = events.agg(
        F.sum(song.cast("int")).alias("rows"),
        F.sum(bad_length.cast("int")).alias("bad"),
        F.count("*").alias("events"),
    ).toPandas()
    rows.append(songs.drop(columns="events").assign(kind="songs"))
    duplicates = (
        events.groupBy("userId", "sessionId", "itemInSession").count().where(F.col("count") > 1)
        .agg(F.count("*").alias("bad")).toPandas()
    )  # fmt: skip
    rows.append(duplicates.assign(kind="keys", rows=int(songs["events"].iloc[0])))
    out = pd.concat(rows, ignore_index=True)
    for column in ("source_file", "value"):
        out[column] = out[column].fillna("").astype(str) if column in out else ""
    for column in ("rows", "ts_min", "ts_max", "ts_low", "ts_high", "bad"):
        out[column] = pd.to_numeric(out.get(column), errors="coerce").fillna(0).astype("int64")
    return out[["kind", "source_file", "value", "rows", "ts_min", "ts_max", "ts_low", "ts_high", "bad"]]


def _gx() -> Any:
    import great_expectations as gx

    return gx.expectations


def _kind(kind: str | tuple[str, ...]):
    kinds = (kind,) if isinstance(kind, str) else kind

    def prepare(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["kind"].isin(kinds)].reset_index(drop=True)

    return prepare


def _known(frame: pd.DataFrame) -> pd.DataFrame:
    """One column per checked field with the values seen (padded with a known value)."""
    import pandas as pd

    columns = {}
    for kind, _known in (("page", PAGES), ("auth", AUTHS), ("level", LEVELS)):
        values = frame.loc[frame["kind"] == kind, "value"].tolist()
        columns[kind] = values
    width = max([len(v) for v in columns.values()] + [1])
    padding = {"page": PAGES[0], "auth": AUTHS[0], "level": LEVELS[0]}
    return pd.DataFrame({k: v + [padding[k]] * (width - len(v)) for k, v in columns.items()})


@dataclass(frozen=True)
class EventCheck:
    name: str
    description: str
    prepare: Any
    expectations: Any


def event_checks() -> list[EventCheck]:
    return [
        EventCheck(
            "sparkify_ts_plausible",
            "Every file's ts within its plausible range (a daily file: its day ± 1 day).",
            _kind("file"),
            lambda _f: [_gx().ExpectColumnValuesToBeInSet(column="bad", value_set=[0])],
        ),
        EventCheck(
            "sparkify_known_values",
            "page, auth and level in the known sets (unknown values reported, not dropped).",
            _known,
            lambda _f: [
                _gx().ExpectColumnValuesToBeInSet(column="page", value_set=list(PAGES)),
                _gx().ExpectColumnValuesToBeInSet(column="auth", value_set=list(AUTHS)),
                _gx().ExpectColumnValuesToBeInSet(column="level", value_set=list(LEVELS)),
            ],
        ),
        EventCheck(
            "sparkify_song_length_positive",
            "length present and positive on every NextSong.",
            _kind("songs"),
            lambda _f: [_gx().ExpectColumnValuesToBeBetween(column="bad", min_value=0, max_value=0)],
        ),
        EventCheck(
            "sparkify_event_key_unique",
            "(userId, sessionId, itemInSession) unique in the clean events.",
            _kind("keys"),
            lambda _f: [_gx().ExpectColumnValuesToBeBetween(column="bad", min_value=0, max_value=0)],
        ),
    ]

"""The streamed readings table: every reading scored so far, by (series, time), in SQLite.

Why: a reading's score depends on its series' preceding window, which an offset range of
``flow.readings`` does not hold. Each scoring batch first stores its readings (``INSERT OR REPLACE``
on the primary key ``(series, t_ns)``: re-running a batch, or a reading sent twice, never adds a
row), then reads each series' readings from ``HISTORY_NS`` (and at least ``HISTORY_READINGS``
readings) before its earliest reading in the batch up to its latest, and the champion scores that
context; the batch's rows are picked out in order.
The file lives under ``FLYWHEEL_HOME`` (``tables/flow/readings.sqlite``), so it survives restarts.
The annotation page reads the window it shows from here too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from assets.flow.parsing import parse_times, parse_values
from orchestration.settings import get_settings

#: How far back a batch's context reaches: a week (the seasonal feature) and a day more, and at least
#: ``HISTORY_READINGS`` readings (the ensemble's rolling window, its level span and its quiet period,
#: ``assets.flow.detectors.DetectorConfig``), so a streamed reading is scored as in a whole series.
HISTORY_NS = 8 * 86_400 * 10**9
HISTORY_READINGS = 4_500
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS readings (series TEXT NOT NULL, t_ns INTEGER NOT NULL, value REAL NOT NULL, "
    "PRIMARY KEY (series, t_ns)) WITHOUT ROWID"
)


def store_path() -> Path:
    return get_settings().data_dir("tables", "flow") / "readings.sqlite"


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(str(path or store_path()), timeout=60)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(_SCHEMA)
        yield connection
        connection.commit()
    finally:
        connection.close()


def upsert(series: np.ndarray, t_ns: np.ndarray, values: np.ndarray, path: Path | None = None) -> int:
    """Store readings (the last value wins for a repeated (series, time)); returns rows written."""
    rows = list(zip(map(str, series), map(int, t_ns), map(float, values), strict=True))
    with connect(path) as db:
        db.executemany("INSERT OR REPLACE INTO readings VALUES (?, ?, ?)", rows)
    return len(rows)


def read_context(db: sqlite3.Connection, series: str, first_ns: int, last_ns: int) -> pd.DataFrame:
    """A batch's context for one series, in time order: its readings up to ``last_ns`` from the
    earlier of ``HISTORY_NS`` before ``first_ns`` and its ``HISTORY_READINGS``-th stored reading
    before ``first_ns``."""
    by_time = int(first_ns) - HISTORY_NS
    rows = db.execute(
        "SELECT t_ns, value FROM readings WHERE series = ?1 AND t_ns <= ?3 AND t_ns >= MIN(?4, "
        "COALESCE((SELECT t_ns FROM readings WHERE series = ?1 AND t_ns < ?2 "
        "ORDER BY t_ns DESC LIMIT 1 OFFSET ?5), ?4)) ORDER BY t_ns",
        (series, int(first_ns), int(last_ns), by_time, HISTORY_READINGS - 1),
    ).fetchall()
    return pd.DataFrame(rows, columns=["t_ns", "value"]).astype({"t_ns": "int64", "value": float})


def read_all(path: Path | None = None) -> pd.DataFrame:
    with connect(path) as db:
        rows = db.execute("SELECT series, t_ns, value FROM readings ORDER BY series, t_ns").fetchall()
    return pd.DataFrame(rows, columns=["series", "t_ns", "value"])


def with_history(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """``(context, rows)``: the batch's readings stored, each series' preceding window read back, and
    for every batch row (in order) its position in ``context``. A row whose time or value cannot be
    read is scored on its own (the model gives it a low-confidence answer)."""
    timezone = get_settings().flow_timezone
    series = frame["series"].astype(str).to_numpy()
    t = parse_times(frame["time"].reset_index(drop=True), timezone)
    x = parse_values(frame["value"].reset_index(drop=True))
    ok = (t.notna() & x.notna()).to_numpy()
    t_ns = t.astype("int64").to_numpy()
    if ok.any():
        upsert(series[ok], t_ns[ok], x.to_numpy()[ok])
    parts, offset = [], 0
    where = np.full(len(frame), -1, dtype=np.int64)
    with connect() as db:  # one connection for every series of the batch
        for name in pd.unique(series[ok]):
            mine = ok & (series == name)
            stored = read_context(db, name, int(t_ns[mine].min()), int(t_ns[mine].max()))
            position = pd.Series(np.arange(len(stored)) + offset, index=stored["t_ns"].to_numpy())
            where[mine] = position.reindex(t_ns[mine]).to_numpy()
            times = pd.to_datetime(stored["t_ns"], utc=True)
            parts.append(pd.DataFrame({"series": name, "time": times, "value": stored["value"]}))
            offset += len(stored)
    bad = np.flatnonzero(~ok)
    if len(bad):
        parts.append(frame.iloc[bad][["series", "time", "value"]].reset_index(drop=True))
        where[bad] = offset + np.arange(len(bad))
    context = pd.concat(parts, ignore_index=True) if parts else frame[["series", "time", "value"]].iloc[:0]
    return context, where


def window_for(series: str, time: object, readings: int = 60, path: Path | None = None) -> pd.DataFrame:
    """The ``readings`` readings of a series up to ``time`` and a few after it (for the annotation
    page's plot); empty when the series is not in the table."""
    t = parse_times(pd.Series([time]), get_settings().flow_timezone)
    if t.isna().iloc[0]:
        return pd.DataFrame(columns=["t_ns", "value"])
    at = int(t.astype("int64").iloc[0])
    with connect(path) as db:
        before = db.execute(
            "SELECT t_ns, value FROM readings WHERE series = ? AND t_ns <= ? ORDER BY t_ns DESC LIMIT ?",
            (str(series), at, readings + 1),
        ).fetchall()
        after = db.execute(
            "SELECT t_ns, value FROM readings WHERE series = ? AND t_ns > ? ORDER BY t_ns LIMIT ?",
            (str(series), at, max(readings // 6, 1)),
        ).fetchall()
    return pd.DataFrame(sorted(before) + after, columns=["t_ns", "value"])

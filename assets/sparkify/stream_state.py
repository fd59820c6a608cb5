"""The Sparkify loop's compacted stream state: streamed events by user, and each scored user's outcome.

Why (issue 22, item 3): rescoring a batch needs its users' earlier streamed events, and the retrain
sensor counts users whose outcome is known. Both used to read and JSON-parse every predictions
partition on every call, a cost that grows with the whole stream until it exceeds the sensor's
timeout. Here the predictions table stays the source of truth and is folded into SQLite once per
partition file (``tables/sparkify/state/stream_state.sqlite``):

- ``events``: one row per streamed event (``userId, sessionId, itemInSession, ts``), with its record;
  a user's events are read by the primary key's prefix, so a batch pays for its own users only;
- ``outcomes``: per scored user, when it was first scored and whether it cancelled;
- ``folded``: which partition files are in, by size and modification time. A file that changed (a
  re-run batch rewrote it) is folded again: its rows are replaced and its users' outcomes rebuilt.

Folding a file twice (two runs at once) changes nothing: every write is an upsert keyed as above.
The landed events table's latest ``ts`` is cached by the table's files, so the retrain tick reads
it only after ``sparkify_events`` has run.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from assets.sparkify.events import CANCEL_PAGE, FIELDS

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events (user TEXT NOT NULL, session INTEGER, item INTEGER, ts INTEGER, "
    "file TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (user, session, item, ts))",
    "CREATE INDEX IF NOT EXISTS events_file ON events (file)",
    "CREATE INDEX IF NOT EXISTS events_ts ON events (ts)",
    "CREATE TABLE IF NOT EXISTS outcomes (user TEXT PRIMARY KEY, first_ts INTEGER NOT NULL, "
    "cancelled INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS folded (file TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)",
)


def state_path() -> Path:
    from assets.loop.scoring import tables

    return tables("sparkify", "state") / "stream_state.sqlite"


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(str(path or state_path()), timeout=60, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        for statement in _SCHEMA:
            connection.execute(statement)
        yield connection
    finally:
        connection.close()


def _predictions_files(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for path in sorted(root.glob("batch=*/*.parquet")):
        stat = path.stat()
        out[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return out


def _int(value: object) -> int | None:
    """A whole number from a JSON field (``"12"`` and ``12.0`` too), or None."""
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        try:
            return int(float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return None


def _users_of(db: sqlite3.Connection, name: str) -> list[str]:
    return [u for (u,) in db.execute("SELECT DISTINCT user FROM events WHERE file = ?", (name,))]


def _rebuild_outcomes(db: sqlite3.Connection, users: set[str] | list[str]) -> None:
    """Each user's outcome row from their streamed events: first scored, and cancelled or not."""
    for user in users:
        db.execute("DELETE FROM outcomes WHERE user = ?", (user,))
        db.execute(
            "INSERT INTO outcomes SELECT user, MIN(ts), MAX(json_extract(record, '$.page') = ?) "
            "FROM events WHERE user = ? AND ts IS NOT NULL GROUP BY user",
            (CANCEL_PAGE, user),
        )


def _merge_outcomes(db: sqlite3.Connection, rows: list[tuple], cancelling: set[str]) -> None:
    """A new file's users: first scored is the earlier, cancelled stays cancelled (no re-read)."""
    first: dict[str, int] = {}
    for user, _session, _item, ts, _file, _text in rows:
        if ts is not None:
            first[user] = min(first.get(user, ts), ts)
    cancelled = {user: int(user in cancelling) for user in first}
    db.executemany(
        "INSERT INTO outcomes VALUES (?, ?, ?) ON CONFLICT (user) DO UPDATE SET "
        "first_ts = MIN(first_ts, excluded.first_ts), cancelled = MAX(cancelled, excluded.cancelled)",
        [(user, ts, cancelled[user]) for user, ts in first.items()],
    )


def _parse(root: Path, name: str) -> tuple[list[tuple], set[str]]:
    """One partition file's events as ``events`` rows, and the users it shows cancelling."""
    frame = pd.read_parquet(root / name, columns=["record"])
    rows, cancelling = [], set()
    for text in frame["record"]:
        record = json.loads(text)
        user = record.get("userId")
        if user in (None, ""):
            continue
        if record.get("page") == CANCEL_PAGE and _int(record.get("ts")) is not None:
            cancelling.add(str(user))
        key = [_int(record.get(field)) for field in ("sessionId", "itemInSession", "ts")]
        rows.append((str(user), *key, name, text))
    return rows, cancelling


def _replace_file(
    db: sqlite3.Connection,
    name: str,
    rows: list[tuple],
    cancelling: set[str],
    signature: tuple[int, int] | None,
) -> None:
    """One partition file's events replaced by ``rows`` in one transaction (``signature`` None: the
    file is gone). A new file's users are merged into their outcomes; a re-run's or a removed file's
    users are rebuilt from their events."""
    earlier = _users_of(db, name)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM events WHERE file = ?", (name,))
        db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
        if earlier:
            _rebuild_outcomes(db, {r[0] for r in rows} | set(earlier))
        else:
            _merge_outcomes(db, rows, cancelling)
        if signature is None:
            db.execute("DELETE FROM folded WHERE file = ?", (name,))
        else:
            db.execute("INSERT OR REPLACE INTO folded VALUES (?, ?, ?)", (name, *signature))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _fold(db: sqlite3.Connection) -> int:
    from assets.loop.scoring import tables

    root = tables("sparkify", "predictions")
    files = _predictions_files(root)
    known = {f: (s, m) for f, s, m in db.execute("SELECT file, size, mtime_ns FROM folded")}
    pending = [f for f, signature in files.items() if known.get(f) != signature]
    for name in pending:
        _replace_file(db, name, *_parse(root, name), files[name])
    for gone in set(known) - set(files):
        _replace_file(db, gone, [], set(), None)
    return len(pending)


def fold(path: Path | None = None) -> int:
    """Fold the predictions files that are new or changed since the last call; returns how many."""
    with connect(path) as db:
        return _fold(db)


def streamed_events(users: list[str], path: Path | None = None) -> pd.DataFrame:
    """The streamed events of ``users`` (the 18 fields), read by user."""
    with connect(path) as db:
        _fold(db)
        texts = []
        for start in range(0, len(users), 500):  # SQLite's bound-parameter limit
            chunk = [str(u) for u in users[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            texts += [t for (t,) in db.execute(f"SELECT record FROM events WHERE user IN ({marks})", chunk)]
    records = [json.loads(t) for t in texts]
    return pd.DataFrame(records, columns=list(FIELDS)) if records else pd.DataFrame(columns=list(FIELDS))


def _landed_latest_ts(db: sqlite3.Connection) -> int | None:
    """The events table's latest ``ts``, cached by the table's files (read again only when changed)."""
    from assets.sparkify.model import events_table_path

    table = events_table_path()
    if not table.exists():
        return None
    files = sorted(table.rglob("*.parquet"))
    signature = json.dumps([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files])
    cached = dict(db.execute("SELECT name, value FROM meta WHERE name IN ('landed_files', 'landed_ts')"))
    if cached.get("landed_files") == signature:
        return None if cached.get("landed_ts") in (None, "") else int(cached["landed_ts"])
    import pyarrow.dataset as ds

    column = ds.dataset(str(table), format="parquet").to_table(columns=["ts"]).column("ts")
    latest = pd.to_numeric(column.to_pandas(), errors="coerce").max() if len(column) else float("nan")
    value = "" if pd.isna(latest) else str(int(latest))
    db.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)", [("landed_files", signature), ("landed_ts", value)]
    )
    return None if value == "" else int(value)


def _latest_seen_ts(db: sqlite3.Connection) -> int | None:
    """The stream's clock after a fold: the latest event time seen, streamed or landed."""
    _fold(db)
    (streamed,) = db.execute("SELECT MAX(ts) FROM events").fetchone()
    if streamed is None:
        return None
    landed = _landed_latest_ts(db)
    return max(int(streamed), landed) if landed is not None else int(streamed)


#: A scored user's outcome is known once they cancelled, or once the horizon passed since first scored.
_RESOLVED = "cancelled = 1 OR first_ts + ? <= ?"


def resolved_users(horizon_ms: int, path: Path | None = None) -> list[tuple[str, int, bool]]:
    """``(user, first scored ts, cancelled)`` of every scored user whose outcome is known."""
    with connect(path) as db:
        latest = _latest_seen_ts(db)
        if latest is None:
            return []
        rows = db.execute(
            f"SELECT user, first_ts, cancelled FROM outcomes WHERE {_RESOLVED} ORDER BY first_ts, user",
            (horizon_ms, latest),
        ).fetchall()
    return [(str(user), int(first), bool(cancelled)) for user, first, cancelled in rows]


def resolved_count(horizon_ms: int, path: Path | None = None) -> int:
    """Scored users whose outcome is known: cancelled since, or scored at least ``horizon_ms`` before
    the latest event time seen (streamed or landed)."""
    with connect(path) as db:
        latest = _latest_seen_ts(db)
        if latest is None:
            return 0
        (count,) = db.execute(
            f"SELECT COUNT(*) FROM outcomes WHERE {_RESOLVED}", (horizon_ms, latest)
        ).fetchone()
    return int(count)

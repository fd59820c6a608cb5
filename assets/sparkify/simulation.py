"""Events for ``flywheel simulate sparkify``: the landed users carry on listening after the latest
event of the clean table (their profile from their last event, new sessions from the generator's
model), so each scoring batch touches users with a history. Without a table, new generated users.
Records are the 18 fields exactly as landed (``ts`` ms, ``userId`` a string, nulls as null).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assets.sparkify.events import FIELDS
from assets.sparkify.generator import DAY_MS, _Songs, draw_users, generate_frames, simulate_user

TOPIC_KIND = "events"
#: Messages are keyed by user: a user's events stay in one partition, in order.
KEY_FIELD = "userId"


def _continuing(home: Path, count: int, seed: int) -> pd.DataFrame | None:
    table = home / "tables" / "sparkify" / "events"
    if not table.exists():
        return None
    events = pd.read_parquet(table, columns=list(FIELDS))
    if events.empty:
        return None
    start = int(events["ts"].max()) + 1
    last = events.sort_values("ts").groupby("userId").tail(1)
    gone = set(events.loc[events["page"] == "Cancellation Confirmation", "userId"])
    last = last[~last["userId"].isin(gone)]
    rng = np.random.default_rng(seed)
    songs = _Songs()
    template = draw_users(len(last), start, 14, rng)
    frames, session = [], int(events["sessionId"].max()) + 1
    days = 7.0
    while sum(map(len, frames)) < count and days < 365:
        for row, base in zip(last.itertuples(index=False), template, strict=True):
            user = dataclasses.replace(
                base, user_id=str(row.userId), first_name=row.firstName, last_name=row.lastName,
                gender=row.gender, location=row.location, user_agent=row.userAgent,
                registration=int(row.registration), level=row.level,
            )  # fmt: skip
            rows, _, session = simulate_user(user, start, start + int(days * DAY_MS), rng, songs, session)
            frames.append(pd.DataFrame(rows, columns=list(FIELDS)))
        start += int(days * DAY_MS)
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True).sort_values("ts", kind="stable") if frames else None


def records(home: Path, count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    frame = _continuing(home, count, seed)
    if frame is None:
        frame = generate_frames(max(10, count // 40), 30, seed)[0]
    frame = frame.head(count).astype(object)
    for record in frame.where(frame.notna(), None).to_dict("records"):
        for key in ("itemInSession", "sessionId", "status", "ts"):
            record[key] = int(record[key])
        for key in ("length", "registration"):
            record[key] = None if record[key] is None else float(record[key])
        yield record

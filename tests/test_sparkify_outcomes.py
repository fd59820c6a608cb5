"""Counting resolved outcomes for the retrain sensor when the events table knows none of the scored
users (issue 22, item 3): an empty max is NaN, and ``int(nan or 0)`` raised instead of counting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from assets.loop.scoring import write_partition
from assets.sparkify.events import FIELDS
from assets.sparkify.model import events_table_path
from assets.sparkify.stream import resolved_outcomes

DAY_MS = 86_400_000


def _event(user: str, ts: int, page: str = "NextSong") -> dict:
    event = dict.fromkeys(FIELDS)
    return {**event, "userId": user, "ts": ts, "page": page, "sessionId": 1, "itemInSession": 0}


def test_outcomes_count_when_no_scored_user_is_in_the_events_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    table = events_table_path()
    table.mkdir(parents=True)
    pd.DataFrame([_event("landed-only", 1_000)]).to_parquet(table / "part-0.parquet", index=False)
    start = 1_600_000_000_000
    records = [
        _event("a", start),
        _event("b", start, "Cancellation Confirmation"),
        _event("c", start + 31 * DAY_MS),  # the stream's clock: a's horizon has passed
    ]
    frame = pd.DataFrame({"key": ["k0", "k1", "k2"], "record": [json.dumps(r) for r in records]})
    write_partition(frame, "sparkify", "predictions", "0_0-3")
    # a: horizon passed; b: cancelled; c: scored just now, unresolved.
    assert resolved_outcomes(30) == 2

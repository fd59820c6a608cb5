"""Readings for ``flywheel simulate flow``: series replayed reading by reading, as monitors send them.

The series are generated from the real clean ones (``assets.flow.generator``) with injected
anomalies, moved so that they end now, and interleaved in time order (every series' reading at one
time before the next time), so each scoring batch holds a slice of every series and needs the
preceding readings from the readings table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from assets.flow.generator import generate_series
from assets.flow.records import KEY_FIELD, reading_id

TOPIC_KIND = "readings"
SERIES = 4


def records(home: Path, count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    days = max(count / SERIES * 300 / 86_400, 1.0) * 1.2
    series = generate_series(SERIES, days, seed=seed + 1000)
    now = pd.Timestamp.now(tz="UTC").floor("5min")
    frames = []
    for s in series:
        shift = now - s.readings["time"].max()
        frames.append(s.readings.assign(series=f"sim-{s.name}", time=s.readings["time"] + shift))
    frame = pd.concat(frames).sort_values(["time", "series"], kind="stable").head(count)
    for name, time, value in zip(frame["series"], frame["time"], frame["value"], strict=True):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ")
        yield {KEY_FIELD: reading_id(name, stamp), "series": name, "time": stamp, "value": float(value)}

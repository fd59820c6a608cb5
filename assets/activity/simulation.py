"""Records for ``flywheel simulate activity``: generated windows as they would arrive from watches.

The generator is fitted on the clean labelled windows under ``FLYWHEEL_HOME`` when there are any,
else on the bundled ArWISE sample, so the stream resembles the data the champion was trained on.
A record is one layout-(b) window without its label, plus ``window_id``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from assets.activity.generator import WindowStats, fit_window_stats, sample_windows
from assets.activity.layouts import STAMP_FORMAT, WINDOW_COLUMNS

KEY_FIELD = "window_id"
BUNDLED = Path(__file__).resolve().parents[2] / "data" / "activity"
_BATCH = 200


def reference_windows(home: Path) -> pd.DataFrame:
    clean = home / "tables" / "activity" / "clean" / "windows.parquet"
    if clean.exists():
        return pd.read_parquet(clean)
    files = sorted(BUNDLED.glob("*windows*.csv"))
    if not files:
        raise FileNotFoundError(f"no clean activity windows under {clean.parent} and no sample in {BUNDLED}")
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def records(home: Path, count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    stats: WindowStats = fit_window_stats(reference_windows(home))
    for first in range(0, count, _BATCH):
        batch = sample_windows(stats, min(_BATCH, count - first), seed=seed, first_id=first)
        batch["stamp"] = pd.to_datetime(batch["stamp"]).dt.strftime(STAMP_FORMAT)
        values = batch[list(WINDOW_COLUMNS[:-1])]  # the label is what the model must find
        values = values.astype(object).where(values.notna(), None)  # JSON has null, not NaN
        for i, row in enumerate(values.to_dict(orient="records")):
            yield {KEY_FIELD: f"sim-{seed}-{first + i}", **row}

"""Records for ``flywheel simulate activity``: generated windows as they would arrive from watches.

The generator is fitted on the clean labelled windows under ``FLYWHEEL_HOME`` when there are any,
else on the bundled ArWISE sample, so the stream resembles the data the champion was trained on.
A record is one layout-(b) window without its label, plus ``window_id``.

Stamps matter: the classifier uses time of day and day of week (people bathe in the morning), so a
record's stamp is a real stamp of its class moved forward by whole weeks to the most recent week,
keeping both. Generated motion with a fixed clock time would be scored as whatever happens then.

Units: the clean windows are in g and rad/s, but records arrive in the units the watches record in
(``activity_sensors.json``, kept in the clean table), so generated windows are converted back to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assets.activity.generator import WindowStats, fit_window_stats, sample_windows
from assets.activity.layouts import LABEL_COLUMN, STAMP_FORMAT, WINDOW_COLUMNS
from assets.activity.units import from_canonical, table_units

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


def class_stamps(
    reference: pd.DataFrame, labels: pd.Series, rng: np.random.Generator, now: pd.Timestamp
) -> pd.Series:
    """For each label, a real stamp of that class shifted by whole weeks to the latest week before ``now``."""
    by_class = {
        name: pd.to_datetime(group["stamp"]).to_numpy() for name, group in reference.groupby(LABEL_COLUMN)
    }
    picked = pd.to_datetime([rng.choice(by_class[label]) for label in labels])
    weeks = ((now - picked) // pd.Timedelta(weeks=1)).astype(int)
    return pd.Series(picked + pd.to_timedelta(weeks * 7, unit="D"), index=labels.index)


def records(home: Path, count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    reference = reference_windows(home)
    reference = reference[reference[LABEL_COLUMN].notna()]
    units = table_units(reference)
    stats: WindowStats = fit_window_stats(reference)
    rng = np.random.default_rng([seed, 11])
    now = pd.Timestamp.now()
    for first in range(0, count, _BATCH):
        batch = sample_windows(stats, min(_BATCH, count - first), seed=seed, first_id=first)
        batch["stamp"] = class_stamps(reference, batch[LABEL_COLUMN], rng, now).dt.strftime(STAMP_FORMAT)
        values = from_canonical(batch[list(WINDOW_COLUMNS[:-1])], units)  # no label: the model finds it
        values = values.astype(object).where(values.notna(), None)  # JSON has null, not NaN
        for i, row in enumerate(values.to_dict(orient="records")):
            yield {KEY_FIELD: f"sim-{seed}-{first + i}", **row}

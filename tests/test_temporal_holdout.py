"""Flow's temporal holdout stays temporal (issue 22, item 5): training rows come only from before
each series' holdout start, and a time draw with no untrained row never holds out the whole pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
from dagster import AssetKey

from assets.lifecycle.factory import _before_holdout_start
from assets.lifecycle.holdout import draw_holdout
from assets.lifecycle.spec import LifecycleSpec, TemporalHoldout

SPEC = LifecycleSpec(
    use_case="t", source=AssetKey("t_source"), record_columns=("series", "time", "value"), trainers={},
    primary_metric="f1", thresholds={}, temporal_holdout=TemporalHoldout("time", "series"),
)  # fmt: skip


def test_readings_landed_after_the_holdout_window_are_not_trained_on() -> None:
    times = pd.date_range("2024-01-01", periods=10, freq="h", tz="UTC")
    frame = pd.DataFrame({"series": ["a"] * 10 + ["b"] * 10, "time": list(times) * 2, "value": range(20)})
    held = frame[(frame["series"] == "a") & (frame["time"] >= times[7]) & (frame["time"] < times[9])]
    # a's last reading (times[9]) landed after the holdout was frozen: it is a's future, not training.
    train = frame.drop(held.index)
    kept, dropped = _before_holdout_start(SPEC, train, held)
    assert dropped == 1
    assert kept.loc[kept["series"] == "a", "time"].max() == times[6]
    assert (kept["series"] == "b").sum() == 10  # a series without held-out rows keeps every row


def test_a_time_draw_without_untrained_rows_holds_out_its_end_again_not_everything() -> None:
    ids = pd.Series([f"r{i}" for i in range(10)])
    chosen = np.arange(10) >= 8
    untrained = np.arange(10) == 3  # only an early row is untrained; the end was trained on
    mask, fresh = draw_holdout(ids, 0.2, "salt", np.ones(10, bool), untrained, chosen=chosen)
    assert not fresh and mask.tolist() == chosen.tolist()

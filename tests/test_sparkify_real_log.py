"""The churn pyfunc on the real eventsim development log (``../shared/data/sparkify_eventsim``): one
row per logged-in user, whatever the batch, and rows weighted so that no user dominates training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.sparkify.features import examples, weekly_cutoffs
from assets.sparkify.model import OUTPUT_COLUMNS, _row_weights, train_hist_gradient_boosting

EVENTSIM = Path(__file__).resolve().parents[2] / "shared" / "data" / "sparkify_eventsim"


@pytest.fixture(scope="module")
def raw_events() -> pd.DataFrame:
    """The log's records exactly as they arrive on the topic: JSON objects, types untouched."""
    lines = []
    for path in sorted((EVENTSIM / "log_data").glob("**/*.json")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame(lines)


def test_the_pyfunc_returns_one_row_per_development_user(raw_events: pd.DataFrame) -> None:
    events = raw_events.assign(userId=raw_events["userId"].astype(str))
    rows = examples(events, weekly_cutoffs(events["ts"].min(), events["ts"].max(), 30, 7), 30)
    assert set(rows["churn"]) == {"churn", "stay"}
    model = train_hist_gradient_boosting(rows, ["churn", "stay"], 0)
    scored = model.predict(None, raw_events)
    labelled = pd.read_csv(EVENTSIM / "churn_labels.csv", dtype={"userId": str})
    logged_in = set(raw_events["userId"].astype(str)) - {""}
    assert list(scored.columns) == list(OUTPUT_COLUMNS)
    assert len(scored) == scored["userId"].nunique() == len(logged_in)
    assert set(scored["userId"]) == logged_in <= set(labelled["userId"])
    assert scored["churn_probability"].between(0, 1).all()
    # A batch of a few users gives each of them the same risk as the whole log does.
    few = sorted(logged_in)[:5]
    alone = model.predict(None, raw_events[raw_events["userId"].astype(str).isin(few)])
    whole = scored.set_index("userId").loc[alone["userId"], "churn_probability"]
    np.testing.assert_allclose(alone["churn_probability"].to_numpy(), whole.to_numpy())


def test_each_user_weighs_the_same_whatever_their_number_of_rows() -> None:
    frame = pd.DataFrame({"userId": ["a"] * 8 + ["b", "c"], "churn": ["stay"] * 8 + ["stay", "churn"]})
    y = (frame["churn"] == "churn").to_numpy(dtype=int)
    weights = pd.Series(_row_weights(frame, y), index=frame["userId"])
    by_user = weights.groupby(level=0).sum()
    assert by_user["a"] == pytest.approx(by_user["b"])  # eight rows of a weigh what b's one does
    assert by_user["c"] > by_user["b"]  # the rare class still counts more
    assert weights.mean() == pytest.approx(1.0)

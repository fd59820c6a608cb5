"""Per-user features as of a cutoff: no leakage, labels after the cutoff, and the pyfunc contract."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.sparkify.events import CANCEL_PAGE, FIELDS
from assets.sparkify.features import (
    AS_OF_GAP_FEATURES,
    DAY_MS,
    FEATURE_NAMES,
    MODEL_FEATURES,
    examples,
    user_features,
    weekly_cutoffs,
)
from assets.sparkify.generator import generate_frames
from assets.sparkify.model import OUTPUT_COLUMNS, score_examples, train_hist_gradient_boosting

START = dt.datetime(2018, 10, 1, tzinfo=dt.UTC)
HORIZON = 14


@pytest.fixture(scope="module")
def logs() -> tuple[pd.DataFrame, pd.DataFrame]:
    events, truth = generate_frames(200, 42, seed=21, start=START)
    return events[events["userId"] != ""].reset_index(drop=True), truth


@pytest.fixture(scope="module")
def labelled(logs) -> pd.DataFrame:
    events, _ = logs
    return examples(events, weekly_cutoffs(events["ts"].min(), events["ts"].max(), HORIZON), HORIZON)


@pytest.fixture(scope="module")
def model(labelled):
    return train_hist_gradient_boosting(labelled, ["churn", "stay"], seed=0)


def test_removing_events_after_the_cutoff_changes_no_feature(logs) -> None:
    events, _ = logs
    cutoff = int(events["ts"].min()) + 20 * DAY_MS
    full = user_features(events, as_of=cutoff)
    truncated = user_features(events[events["ts"] < cutoff], as_of=cutoff)
    pd.testing.assert_frame_equal(full, truncated)
    # ...while events before the cutoff do matter (the test can fail).
    fewer = user_features(events[events["ts"] < cutoff - 3 * DAY_MS], as_of=cutoff)
    assert not fewer.reindex(full.index)[list(FEATURE_NAMES)].equals(full[list(FEATURE_NAMES)])


def test_spark_examples_do_not_see_past_their_cutoff(logs, tmp_path: Path) -> None:
    """The Spark path (applyInPandas by user bucket) builds the same rows with or without the future."""
    from assets.sparkify.assets import build_examples
    from resources.spark import SparkResource

    events, _ = logs
    spark = SparkResource(master="local[2]").spark_session
    events[list(FIELDS)].to_parquet(tmp_path / "all.parquet")
    rows, cutoffs = build_examples(spark, str(tmp_path / "all.parquet"), HORIZON, 7, 2)
    first = cutoffs[0]
    # Keep one day after the last cutoff's horizon so that the same cutoffs are drawn.
    keep = (events["ts"] < first) | (events["ts"] >= cutoffs[-1] + HORIZON * DAY_MS)
    events[keep][list(FIELDS)].to_parquet(tmp_path / "cut.parquet")
    rows_cut, cutoffs_cut = build_examples(spark, str(tmp_path / "cut.parquet"), HORIZON, 7, 2)
    assert cutoffs_cut == cutoffs
    a = rows.toPandas().query("cutoff == @first").set_index("userId").sort_index()
    b = rows_cut.toPandas().query("cutoff == @first").set_index("userId").sort_index()
    pd.testing.assert_frame_equal(a[list(FEATURE_NAMES)], b[list(FEATURE_NAMES)])
    local = examples(events, cutoffs, HORIZON).query("cutoff == @first").set_index("userId").sort_index()
    pd.testing.assert_frame_equal(a[list(FEATURE_NAMES)], local[list(FEATURE_NAMES)], check_dtype=False)


def test_labels_come_after_the_cutoff_and_cancelled_users_leave(logs, labelled) -> None:
    events, _ = logs
    cancelled = events[events["page"] == CANCEL_PAGE].set_index("userId")["ts"]
    assert len(cancelled) > 10 and (labelled["churn"] == "churn").sum() > 10
    when = labelled["userId"].map(cancelled)
    churn = labelled["churn"] == "churn"
    # Features as served: as of the user's last event before the cutoff; the label, as the judge
    # asks it: a cancellation in the horizon after the cutoff.
    assert (labelled["as_of"] <= labelled["cutoff"]).all()
    assert (labelled["as_of"] == labelled["last_ts"] + 1).all()
    assert ((when >= labelled["cutoff"]) & (when < labelled["cutoff"] + HORIZON * DAY_MS)).eq(churn).all()
    assert not (when < labelled["cutoff"]).any()  # cancelled before the cutoff: excluded
    assert labelled["example_id"].is_unique and not labelled.duplicated(["userId", "cutoff"]).any()
    # Every user with events before a cutoff who has not cancelled is a row at that cutoff.
    for cutoff, rows in labelled.groupby("cutoff"):
        before = events[events["ts"] < cutoff]
        alive = set(before["userId"]) - {""} - set(cancelled[cancelled < cutoff].index)
        assert set(rows["userId"]) == alive


def test_pyfunc_returns_one_row_per_user_alone_or_mixed(logs, model) -> None:
    events, _ = logs
    users = events["userId"].drop_duplicates().iloc[:12].tolist()
    mixed = events[events["userId"].isin(users)].sample(frac=1.0, random_state=3)  # any order
    mixed = pd.concat(
        [mixed, pd.DataFrame([{**mixed.iloc[0].to_dict(), "userId": "", "auth": "Logged Out"}])]
    )
    out = model.predict(None, mixed[list(FIELDS)])
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert sorted(out["userId"]) == sorted(users) and out["userId"].is_unique
    assert out["churn_probability"].between(0, 1).all() and set(out["prediction"]) <= {0, 1}
    assert out["churn_probability"].nunique() > 1
    for user in users[:6]:
        alone = model.predict(None, events.loc[events["userId"] == user, list(FIELDS)])
        assert len(alone) == 1
        same = out.loc[out["userId"] == user, "churn_probability"].iloc[0]
        assert alone["churn_probability"].iloc[0] == pytest.approx(same, abs=1e-12)


def test_records_as_json_strings_score_the_same(logs, model) -> None:
    events, _ = logs
    one = events[events["userId"] == events["userId"].iloc[0]][list(FIELDS)]
    as_json = pd.read_json(pd.io.common.StringIO(one.to_json(orient="records")), dtype=False)
    as_json["ts"] = as_json["ts"].astype(str)  # numbers that arrived as text
    a = model.predict(None, one)["churn_probability"].iloc[0]
    b = model.predict(None, as_json)["churn_probability"].iloc[0]
    assert a == pytest.approx(b)


def test_lifecycle_scoring_matches_training_features(logs, labelled, model) -> None:
    """Scoring a (user, cutoff) row through the pyfunc contract (no ``as_of``) on that user's events
    before the cutoff gives the probability of the training features themselves (one feature
    function, the same moment)."""
    events, _ = logs
    rows = labelled.groupby("cutoff").head(5)
    scored = score_examples(lambda records: model.predict(None, records), rows, history=events)
    direct = model.classifier.churn_proba(rows)
    np.testing.assert_allclose(scored["churn"].to_numpy(), direct, atol=1e-12)
    assert len(scored) == len(rows) and set(scored["prediction"]) <= {"churn", "stay"}


def test_training_rows_are_what_serving_sees(logs, labelled) -> None:
    """No train/serve skew: a training row's features are exactly the served features of that user's
    events before the cutoff (each user as of their latest ts); and no model feature that varies
    across training rows is constant across served users."""
    events, _ = logs
    for cutoff, rows in labelled.groupby("cutoff"):
        served = user_features(events[events["ts"] < cutoff])
        train = rows.set_index("userId")[list(FEATURE_NAMES)]
        pd.testing.assert_frame_equal(train, served.loc[train.index, list(FEATURE_NAMES)], check_dtype=False)
    served = user_features(events)
    varies = [c for c in MODEL_FEATURES if labelled[c].nunique() > 1]
    assert len(varies) > 20 and [c for c in varies if served[c].nunique() <= 1] == []
    assert (served[list(AS_OF_GAP_FEATURES)] < 1 / 24).all().all()  # why these stay out of the model
    assert set(AS_OF_GAP_FEATURES).isdisjoint(MODEL_FEATURES)


def test_features_do_not_depend_on_row_order_or_index(logs) -> None:
    events, _ = logs
    shuffled = events.sample(frac=1.0, random_state=3)
    shuffled.index = np.random.default_rng(3).integers(0, 7, len(shuffled))  # repeated labels
    pd.testing.assert_frame_equal(user_features(shuffled), user_features(events))


def test_profile_is_each_users_latest_known_value_and_counts_are_hand_checked() -> None:
    day = int(dt.datetime(2018, 10, 2, tzinfo=dt.UTC).timestamp() * 1000)
    rows = [  # user 7: free then paid (one change), a song per session; the last row has no level/agent
        ("7", day, 1, "NextSong", "free", "A", "F", "Mozilla (Windows NT 10.0)", "Austin, TX"),
        ("7", day + 60_000, 1, "Thumbs Down", "free", None, "F", "Mozilla (Windows NT 10.0)", "Austin, TX"),
        ("7", day + DAY_MS, 2, "NextSong", "paid", "B", "F", "Mozilla (Macintosh)", "Boston, MA"),
        ("7", day + DAY_MS + 1, 2, "NextSong", None, "A", None, None, None),
        ("8", day, 5, "Home", "paid", None, "M", "Mozilla (Linux)", "Reno, NV"),
        ("", day, 9, "Home", "free", None, None, None, None),  # logged out: no user
    ]
    events = pd.DataFrame(
        rows,
        columns=["userId", "ts", "sessionId", "page", "level", "artist", "gender", "userAgent", "location"],
    ).assign(registration=float(day - 10 * DAY_MS))
    features = user_features(events)
    assert list(features.index) == ["7", "8"]
    seven = features.loc["7"]
    assert (seven["n_songs"], seven["n_thumbs_down"], seven["n_events"], seven["n_sessions"]) == (3, 1, 4, 2)
    assert seven["distinct_artists"] == 2 and seven["days_active"] == 2
    assert (
        seven["level"] == "paid" and seven["paid"] == 1.0 and seven["os"] == "mac" and seven["state"] == "MA"
    )
    assert seven["level_changes"] == 2  # free -> paid, then a row with no level
    assert seven["first_ts"] == day and seven["last_ts"] == day + DAY_MS + 1
    assert features.loc["8", "male"] == 1.0 and features.loc["8", "n_songs"] == 0

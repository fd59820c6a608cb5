"""The shared tabular trainers on toy data: every estimator learns separable classes through missing
values and categories, keeps the output contract on raw records, tunes binary and per-label cuts,
and predicts the same after a pickle round trip."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from assets.trainers.tabular import TabularTask, baseline_trainers, tabular_trainer, tabular_trainers

CLASSES = ["low", "mid", "high"]
TASK = TabularTask(feature_columns=("x", "y"), categorical_columns=("colour",), task="multiclass")


def _frame(rows: int, seed: int, missing: float = 0.1) -> pd.DataFrame:
    """Three classes apart on ``x`` (and told by ``colour`` too), noise in ``y``; ``missing`` of the
    numbers are NaN."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, rows)
    x = truth * 3.0 + rng.normal(0, 0.5, rows)
    x[rng.random(rows) < missing] = np.nan
    y = rng.normal(0, 1, rows)
    y[rng.random(rows) < missing] = np.nan
    colour = np.array(["red", "green", "blue"])[truth]
    return pd.DataFrame({"x": x, "y": y, "colour": colour, "label": np.array(CLASSES)[truth]})


@pytest.mark.parametrize("name", ["hist_gbm", "random_forest", "logreg"])
def test_each_estimator_learns_and_keeps_the_contract(name: str) -> None:
    train, test = _frame(300, seed=1), _frame(100, seed=2)
    model = tabular_trainers(TASK)[name](train, CLASSES, 0)
    records = test.drop(columns="label").assign(extra="ignored").set_index(pd.Index(range(500, 600)))
    out = model.predict(None, records)
    assert list(out.columns) == [*CLASSES, "prediction"] and list(out.index) == list(records.index)
    assert np.allclose(out[CLASSES].sum(axis=1), 1.0)
    assert (out["prediction"] == out[CLASSES].idxmax(axis=1)).all()
    assert (out["prediction"].to_numpy() == test["label"].to_numpy()).mean() >= 0.9
    # A record missing a column, a number that is not one, an unseen category: still a prediction.
    odd = pd.DataFrame({"x": ["6.2", "not a number"], "colour": ["blue", "purple"]})
    assert model.predict(None, odd)["prediction"].iloc[0] == "high" and len(model.predict(None, odd)) == 2
    assert model.predict(None, records.iloc[:0]).columns.tolist() == [*CLASSES, "prediction"]


def test_gradient_boosting_takes_nan_itself_the_others_impute() -> None:
    train = _frame(200, seed=3, missing=0.3)
    boosted = tabular_trainer(TASK, "hist_gbm")(train, CLASSES, 0)
    assert isinstance(boosted.pipeline[-1], HistGradientBoostingClassifier)
    assert np.isnan(boosted.pipeline[0].transform(train)).any()  # NaN reaches the booster
    forest = tabular_trainer(TASK, "random_forest")(train, CLASSES, 0)
    assert not np.isnan(forest.pipeline[0].transform(train)).any()
    nothing = pd.DataFrame({"x": [np.nan], "y": [np.nan], "colour": [None]})
    for model in (boosted, forest):
        assert np.isclose(model.predict(None, nothing)[CLASSES].sum(axis=1), 1.0).all()


def test_majority_baseline() -> None:
    train = _frame(40, seed=4)
    train["label"] = ["mid"] * 30 + ["low"] * 10
    out = baseline_trainers(TASK)["majority"](train, CLASSES, 0).predict(None, _frame(3, seed=5))
    assert out["prediction"].tolist() == ["mid"] * 3
    assert out[CLASSES].iloc[0].tolist() == [0.25, 0.75, 0.0]


def test_binary_cut_is_tuned_for_f2() -> None:
    """A rare positive class that overlaps the other: F2 wants a cut below 0.5."""
    rng = np.random.default_rng(6)
    rows = 600
    positive = rng.random(rows) < 0.15
    frame = pd.DataFrame(
        {"x": positive * 1.0 + rng.normal(0, 0.8, rows), "label": np.where(positive, "yes", "no")}
    )
    task = TabularTask(feature_columns=("x",), metric="f2", positive_class="yes")
    tuned = tabular_trainer(task, "logreg")(frame, ["no", "yes"], 0)
    plain = tabular_trainer(TabularTask(feature_columns=("x",), positive_class="yes"), "logreg")(
        frame, ["no", "yes"], 0
    )
    assert plain.thresholds == {"yes": 0.5} and 0.0 < tuned.thresholds["yes"] != 0.5
    out = tuned.predict(None, frame)
    assert (out["prediction"] == np.where(out["yes"] >= tuned.thresholds["yes"], "yes", "no")).all()


def test_multilabel_per_label_models_and_thresholds() -> None:
    rng = np.random.default_rng(7)
    rows = 300
    frame = pd.DataFrame({"a": rng.normal(0, 1, rows), "b": rng.normal(0, 1, rows)})
    frame["first"] = (frame["a"] > 0).astype(int)
    frame["second"] = (frame["b"] > 0.5).astype(int)
    frame["never"] = 0
    labels = ["first", "second", "never"]
    task = TabularTask(feature_columns=("a", "b"), task="multilabel", metric="f1")
    model = tabular_trainer(task, "hist_gbm")(frame, labels, 0)
    out = model.predict(None, frame[["a", "b"]])
    assert list(out.columns) == [*labels, "prediction"] and set(model.pipelines) == {"first", "second"}
    assert (out["never"] == 0.0).all() and model.thresholds["never"] == 0.5
    for (_, row), predicted in zip(out.iterrows(), out["prediction"], strict=True):
        assert predicted == [name for name in labels if row[name] >= model.thresholds[name]]
    for label in ("first", "second"):
        assert (np.array([label in p for p in out["prediction"]]) == frame[label].astype(bool)).mean() > 0.9


def test_pickle_round_trip_and_task_validation() -> None:
    model = tabular_trainer(TASK, "random_forest")(_frame(100, seed=8), CLASSES, 0)
    records = _frame(30, seed=9).drop(columns="label")
    pd.testing.assert_frame_equal(
        pickle.loads(pickle.dumps(model)).predict(None, records), model.predict(None, records)
    )
    with pytest.raises(ValueError, match="both numeric and categorical"):
        TabularTask(feature_columns=("x",), categorical_columns=("x",))
    with pytest.raises(ValueError, match="unknown estimator"):
        tabular_trainer(TASK, "svm")

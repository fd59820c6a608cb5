"""The promotion gate's rule and the frozen holdout, as plain functions."""

import pandas as pd

from assets.lifecycle.gate import decide
from assets.lifecycle.holdout import HoldoutStore, in_holdout


def test_first_run_promotes_on_thresholds_alone() -> None:
    ok = decide({"f2": 0.7}, None, "f2", {"f2": 0.5}, tolerance=0.0)
    assert ok.passed and any("no champion" in r for r in ok.reasons)
    low = decide({"f2": 0.4}, None, "f2", {"f2": 0.5}, tolerance=0.0)
    assert not low.passed and "misses threshold" in low.summary()


def test_regression_beyond_tolerance_fails() -> None:
    assert decide({"f2": 0.695}, {"f2": 0.70}, "f2", {"f2": 0.5}, tolerance=0.01).passed
    worse = decide({"f2": 0.68}, {"f2": 0.70}, "f2", {"f2": 0.5}, tolerance=0.01)
    assert not worse.passed and "regresses" in worse.summary()


def test_failed_data_checks_block_even_a_better_model() -> None:
    d = decide({"f2": 0.9}, {"f2": 0.7}, "f2", {"f2": 0.5}, tolerance=0.0, failed_data_checks=["ids_unique"])
    assert not d.passed and "ids_unique" in d.summary()


def test_lower_is_better_metrics() -> None:
    assert decide({"rmse": 1.0}, {"rmse": 1.2}, "rmse", {"rmse": 2.0}, 0.0, higher_is_better=False).passed
    assert not decide({"rmse": 1.5}, {"rmse": 1.2}, "rmse", {"rmse": 2.0}, 0.1, higher_is_better=False).passed


def test_missing_metric_fails_closed() -> None:
    assert not decide({}, None, "f2", {"f2": 0.5}, tolerance=0.0).passed


def test_holdout_membership_is_stable_and_sized() -> None:
    ids = pd.Series(range(20_000))
    mask = in_holdout(ids, 0.2, salt="x")
    assert 0.18 < mask.mean() < 0.22
    shuffled = ids.sample(frac=1.0, random_state=1)
    assert in_holdout(shuffled, 0.2, salt="x").sort_index().equals(mask)  # order does not matter
    assert not in_holdout(ids, 0.2, salt="y").equals(mask)  # a new version draws anew


def test_holdout_store_versions(tmp_path) -> None:
    store = HoldoutStore(tmp_path / "holdout")
    assert store.current() is None
    v1 = store.freeze(pd.DataFrame({"id": [1, 2]}), reason="first holdout")
    v2 = store.freeze(pd.DataFrame({"id": [3]}), reason="labels were wrong")
    assert (v1.version, v2.version) == (1, 2)
    assert store.current().rows == 1 and store.current().reason == "labels were wrong"
    assert pd.read_parquet(v1.path)["id"].tolist() == [1, 2]  # earlier versions stay readable
    assert [e["version"] for e in store.history()] == [1, 2]

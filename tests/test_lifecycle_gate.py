"""The promotion gate's rule, compare-and-set promotion, content keys and the frozen holdout, as plain
functions."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from assets.lifecycle.content import content_keys
from assets.lifecycle.gate import decide
from assets.lifecycle.holdout import HoldoutStore, draw_holdout, in_holdout
from assets.lifecycle.promotion import champion_comparable, promotion_conflicts
from assets.lifecycle.spec import ContentKey

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "disaster_response"


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
    v3 = store.freeze(pd.DataFrame({"id": [4]}), reason="every row trained on", fresh=False)
    assert v2.fresh and not v3.fresh and not store.current().fresh


def test_a_nan_or_infinite_metric_fails_the_gate() -> None:
    for bad in (float("nan"), float("inf"), float("-inf")):
        alone = decide({"f2": bad}, None, "f2", {"f2": 0.5}, tolerance=0.0)
        assert not alone.passed and "not finite" in alone.summary()
        compared = decide({"f2": bad}, {"f2": 0.6}, "f2", {}, tolerance=0.0)
        assert not compared.passed and "cannot compare f2" in compared.summary()
    # NaN compares false with everything: a lower-is-better floor must not let it through either.
    assert not decide({"rmse": float("nan")}, None, "rmse", {"rmse": 2.0}, 0.0, higher_is_better=False).passed


def test_the_primary_metric_is_required_even_without_a_threshold_on_it() -> None:
    d = decide({"accuracy": 0.9}, None, "f2", {"accuracy": 0.5}, tolerance=0.0)
    assert not d.passed and "f2 missing from the challenger's evaluation" in d.summary()
    assert not decide({"accuracy": 0.9, "f2": "0.7"}, None, "f2", {"accuracy": 0.5}, 0.0).passed


def test_a_champion_without_a_usable_metric_fails_the_comparison() -> None:
    for champion in ({}, {"f2": float("nan")}, {"f2": None}):
        d = decide({"f2": 0.8}, champion, "f2", {"f2": 0.5}, tolerance=0.01)
        assert not d.passed and "champion" in d.summary()


def test_an_incomparable_champion_leaves_thresholds_alone_and_says_why() -> None:
    d = decide(
        {"f2": 0.6}, None, "f2", {"f2": 0.5}, 0.0, champion_note="holdout v2 was drawn from trained rows"
    )
    assert d.passed and "holdout v2 was drawn from trained rows: thresholds alone decide" in d.summary()


def test_a_new_holdout_comes_from_untrained_rows_or_says_it_is_not_fresh() -> None:
    ids = pd.Series(range(1_000))
    eligible = np.ones(1_000, dtype=bool)
    untrained = (ids >= 800).to_numpy()
    mask, fresh = draw_holdout(ids, 0.2, "s", eligible, untrained)
    assert fresh and mask.any() and not (mask & ~untrained).any()
    # Too few untrained rows for the hash to pick any: all of them rather than an empty holdout.
    one = (ids == ids[~in_holdout(ids, 0.2, "s")].iloc[0]).to_numpy()
    mask, fresh = draw_holdout(ids, 0.2, "s", eligible, one)
    assert fresh and mask.tolist() == one.tolist()
    # Every row trained on: drawn from all eligible rows, and marked so.
    mask, fresh = draw_holdout(ids, 0.2, "s", eligible & (ids % 2 == 0).to_numpy(), np.zeros(1_000, bool))
    assert not fresh and mask.any() and not mask[1::2].any()


def test_small_data_the_hash_misses_holds_out_one_id_not_everything() -> None:
    ids = pd.Series([f"g{i}" for i in range(20)])
    salt = next(f"s{k}" for k in range(1_000) if not in_holdout(ids, 0.05, f"s{k}").any())
    everything = np.ones(20, dtype=bool)
    mask, fresh = draw_holdout(ids, 0.05, salt, everything, everything)
    assert fresh and mask.sum() == 1  # training keeps the other 19
    again, _ = draw_holdout(ids, 0.05, salt, everything, everything)
    assert again.tolist() == mask.tolist()  # the same id on every draw


EVALUATED = {"challenger_version": "3", "champion_version": "1", "holdout_version": 1}


def test_promotion_needs_the_world_the_evaluation_saw() -> None:
    assert promotion_conflicts(EVALUATED, challenger_now="3", champion_now="1", holdout_now=1) == []
    [moved] = promotion_conflicts(EVALUATED, challenger_now="3", champion_now="2", holdout_now=1)
    assert (
        "champion moved since v3 was evaluated" in moved and "compared with v1" in moved and "now v2" in moved
    )
    [newer] = promotion_conflicts(EVALUATED, challenger_now="4", champion_now="1", holdout_now=1)
    assert "challenger alias moved" in newer and "now v4" in newer
    [holdout] = promotion_conflicts(EVALUATED, challenger_now="3", champion_now="1", holdout_now=2)
    assert "holdout changed" in holdout
    first = {**EVALUATED, "champion_version": None}
    assert promotion_conflicts(first, challenger_now="3", champion_now=None, holdout_now=1) == []
    assert "compared with none" in promotion_conflicts(first, "3", champion_now="2", holdout_now=1)[0]


def test_a_rolled_back_version_is_refused_even_when_nothing_else_moved() -> None:
    stamps = {"at": "2026-12-01T10:00:00+00:00", "by": "ops", "reason": "bad outputs"}
    [refused] = promotion_conflicts(EVALUATED, "3", "1", 1, rolled_back=stamps)
    assert (
        "v3 was rolled back" in refused and "bad outputs" in refused and "flywheel models promote" in refused
    )


def test_only_a_fresh_holdout_or_the_one_the_champion_excluded_allows_a_comparison() -> None:
    assert champion_comparable(2, holdout_fresh=True, champion_holdout_version=1) is None
    assert champion_comparable(2, holdout_fresh=False, champion_holdout_version=2) is None
    note = champion_comparable(2, holdout_fresh=False, champion_holdout_version=1)
    assert note is not None and "holdout v2" in note and "excluded holdout v1" in note
    assert champion_comparable(2, holdout_fresh=False, champion_holdout_version=None) is not None


def test_content_keys_match_copies_under_other_ids() -> None:
    frame = pd.DataFrame(
        {
            "id": ["1", "2", "3", "4"],
            "message": ["We need  WATER\tin Leogane ", "we need water in leogane", "We need food", None],
        }
    )
    keys = content_keys(frame, ContentKey(text=("message",)))
    assert keys[0] == keys[1] and keys[0] != keys[2] and keys[3] != keys[2]
    assert content_keys(frame.drop(columns="message"), ContentKey(text=("message",)))[0] == keys[3]
    assert content_keys(frame, ContentKey(), id_column="id").tolist() == ["1", "2", "3", "4"]


def test_content_keys_of_numbers_survive_a_trip_through_json() -> None:
    values = np.random.default_rng(0).normal(size=(3, 4))
    frame = pd.DataFrame(values, columns=list("abcd"))
    again = pd.DataFrame(json.loads(frame.to_json(orient="records", double_precision=15)))
    again["a"] = again["a"].astype(object)  # an annotation's column may arrive untyped
    key = ContentKey(numbers=tuple("abcd"))
    assert content_keys(frame, key).tolist() == content_keys(again, key).tolist()
    shifted = frame.assign(b=frame["b"] + 1e-3)
    assert not set(content_keys(shifted, key)) & set(content_keys(frame, key))
    assert content_keys(frame.assign(a=-0.0), key)[0] == content_keys(frame.assign(a=0.0), key)[0]


def test_the_shared_disaster_file_holds_19_texts_under_several_ids() -> None:
    messages = pd.read_csv(
        SHARED / "disaster_messages.csv", dtype=str, keep_default_na=False
    ).drop_duplicates()
    keys = content_keys(messages, ContentKey(text=("message",)))
    ids_per_key = messages.groupby(keys)["id"].nunique()
    assert (ids_per_key > 1).sum() == 19


def test_each_use_case_names_content_its_records_keep_through_the_stream() -> None:
    """An activity window re-emitted as a JSON record (new id) keys like the clean window it copies."""
    from assets.activity.definitions import SPEC as ACTIVITY
    from assets.disaster.definitions import SPEC as DISASTER
    from assets.tweets.definitions import SPEC as TWEETS

    assert DISASTER.content_key.text == ("message",) and TWEETS.content_key.text == ("content_hash",)
    windows = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "activity" / "p1_windows_test.csv")
    windows = windows.head(20)
    assert len(ACTIVITY.content_key.numbers) == 600 and set(ACTIVITY.content_key.numbers) <= set(windows)
    records = pd.DataFrame([json.loads(json.dumps(r)) for r in windows.to_dict(orient="records")])
    records["window_id"] = [f"sim-0-{i}" for i in range(len(records))]
    keys = content_keys(windows, ACTIVITY.content_key)
    assert keys.tolist() == content_keys(records, ACTIVITY.content_key).tolist()
    assert keys.nunique() == len(windows)


def test_too_few_positives_fail_with_the_reason_instead_of_a_verdict() -> None:
    d = decide({"lift": 0.30}, None, "lift", {"lift": 0.05}, 0.0, positives=12, min_positives=30)
    assert not d.passed
    assert "12 positives in the holdout; at least 30 are needed to judge lift" in d.summary()


def test_a_threshold_is_judged_on_the_lower_bound_of_its_interval() -> None:
    clear = decide(
        {"lift": 0.20}, None, "lift", {"lift": 0.05}, 0.0,
        intervals={"lift": (0.11, 0.29)}, positives=60, min_positives=30,
    )  # fmt: skip
    assert clear.passed and "interval 0.1100 to 0.2900 over 60 positives" in clear.summary()
    noisy = decide(
        {"lift": 0.06}, None, "lift", {"lift": 0.05}, 0.0,
        intervals={"lift": (-0.04, 0.16)}, positives=40, min_positives=30,
    )  # fmt: skip
    assert not noisy.passed and "lower bound -0.0400 misses threshold 0.0500" in noisy.summary()


def _churn_holdout(users: int, signal: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users at three cutoffs each; churners score ``signal`` higher on average than stayers."""
    rng = np.random.default_rng(seed)
    churned = rng.random(users) < 0.3
    frame = pd.DataFrame({"userId": np.repeat(np.arange(users), 3), "churn": np.repeat(churned, 3)})
    score = 1 / (1 + np.exp(-(rng.normal(size=len(frame)) + signal * frame["churn"].to_numpy())))
    return frame, pd.DataFrame({"p": score})


def _lift(frame: pd.DataFrame, scores: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import average_precision_score

    y = frame["churn"].to_numpy(dtype=int)
    if not 0 < y.sum() < len(y):
        return {"lift": float("nan")}
    return {"lift": float(average_precision_score(y, scores["p"])) - float(y.mean())}


def _gate_on_bootstrap(users: int, signal: float, seed: int) -> "object":
    from assets.lifecycle.confidence import ConfidenceRule, group_bootstrap

    frame, scores = _churn_holdout(users, signal, seed)
    rule = ConfidenceRule(resamples=200)
    intervals = group_bootstrap(
        frame["userId"], lambda pos: _lift(frame.iloc[pos], scores.iloc[pos]), ["lift"], rule
    )
    positives = int(frame["churn"].sum())
    return decide(
        _lift(frame, scores), None, "lift", {"lift": 0.05}, 0.0,
        intervals=intervals, positives=positives, min_positives=rule.min_positives,
    )  # fmt: skip


def test_bootstrap_gate_passes_a_clear_lift_and_refuses_noise() -> None:
    assert _gate_on_bootstrap(users=150, signal=3.0, seed=1).passed
    # No signal at all: whatever lift the point estimate shows by luck, the lower bound is below 0.05.
    for seed in range(5):
        noise = _gate_on_bootstrap(users=150, signal=0.0, seed=seed)
        assert not noise.passed and "lower bound" in noise.summary()


def test_bootstrap_resamples_whole_groups() -> None:
    from assets.lifecycle.confidence import ConfidenceRule, group_bootstrap

    groups = pd.Series(["a", "a", "a", "b", "b", "b"])
    seen: list[np.ndarray] = []

    def record(positions: np.ndarray) -> dict[str, float]:
        seen.append(positions)
        return {"m": float(len(positions))}

    intervals = group_bootstrap(groups, record, ["m"], ConfidenceRule(resamples=20))
    assert seen and all(len(p) == 6 for p in seen)
    assert all(len(set(groups.iloc[p[:3]])) == 1 and len(set(groups.iloc[p[3:]])) == 1 for p in seen)
    assert intervals == {"m": (6.0, 6.0)}

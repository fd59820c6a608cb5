"""The label-efficiency simulation: same seed set for every strategy, labels only from the pool, and
on a problem where the boundary is all that matters, uncertainty sampling finds it with fewer labels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assets.loop.label_efficiency import Curve, labels_to_reach, simulate, summary


def _problem(seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, 2000)
    pool = pd.DataFrame({"x": x[:1500], "label": (x[:1500] > 0.37).astype(int)})
    test = pd.DataFrame({"x": x[1500:], "label": (x[1500:] > 0.37).astype(int)})

    def fit(rows: pd.DataFrame):
        return LogisticRegression(C=1000).fit(rows[["x"]], rows["label"])

    def proba(model, rows: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(rows[["x"]])

    def score(model) -> float:
        return float((model.predict(test[["x"]]) == test["label"]).mean())

    def usable(rows: pd.DataFrame) -> bool:
        return rows["label"].nunique() == 2

    return pool, fit, proba, score, usable


def test_uncertainty_sampling_finds_a_sharp_boundary_with_fewer_labels_than_random() -> None:
    pool, fit, proba, score, usable = _problem()
    curves = [
        simulate(pool, strategy, seed, 10, 5, 30, fit, proba, score, usable=usable)
        for seed in range(3)
        for strategy in ("least_confidence", "random")
    ]
    assert all(c.labels == tuple(range(10, 165, 5)) for c in curves)
    table = summary(curves, full_metric=score(fit(pool)), fraction=0.995).set_index("strategy")
    assert (
        table.loc["least_confidence", "labels_to_target_median"]
        < table.loc["random", "labels_to_target_median"]
    )


def test_every_strategy_of_a_seed_starts_from_the_same_labels_and_never_repeats_one() -> None:
    pool, fit, proba, score, usable = _problem(1)
    chosen: dict[str, list[pd.DataFrame]] = {}

    def recording_fit(strategy: str):
        def fit_and_keep(rows: pd.DataFrame):
            chosen.setdefault(strategy, []).append(rows)
            return fit(rows)

        return fit_and_keep

    for strategy in ("margin", "random"):
        simulate(pool, strategy, 7, 20, 10, 4, recording_fit(strategy), proba, score, usable=usable)
    assert chosen["margin"][0].index.equals(chosen["random"][0].index)  # the same seed set
    for rows in chosen["margin"]:
        assert rows.index.is_unique
    assert len(chosen["margin"][-1]) == 20 + 4 * 10


def test_a_curve_that_never_reaches_the_target_counts_as_beyond_the_pool() -> None:
    never = Curve("random", 0, (10, 20, 30), (0.1, 0.2, 0.3))
    reaches = Curve("entropy", 0, (10, 20, 30), (0.1, 0.95, 0.97))
    assert labels_to_reach(reaches, 0.95) == 20 and labels_to_reach(never, 0.95) is None
    table = summary([never, reaches], full_metric=1.0).set_index("strategy")
    assert (
        table.loc["random", "labels_to_target_median"] == 40
        and table.loc["random", "seeds_not_reaching"] == 1
    )

"""Does asking for the uncertain records beat asking for random ones? A simulation of the annotation
loop on labelled data, with the project's own sampler and trainer.

From a small seed set drawn at random from a labelled pool, each round adds ``round_size`` labels
from the rest of the pool: the ones the current model is least sure of (by one of the loop's
strategies, :mod:`assets.loop.uncertainty`), or random ones. Each round retrains from scratch and
scores a frozen holdout the pool never touches. Pure: the caller gives ``fit(rows) -> model``,
``proba(model, rows) -> (rows, classes) matrix`` and ``score(model) -> metric on the holdout``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assets.loop.uncertainty import multiclass_scores, multilabel_scores, select

RANDOM = "random"


@dataclass(frozen=True)
class Curve:
    """One strategy, one seed: the holdout metric after each round, by labels used so far."""

    strategy: str
    seed: int
    labels: tuple[int, ...]
    metric: tuple[float, ...]


def _scores(proba: np.ndarray, strategy: str, multilabel: bool) -> np.ndarray:
    return multilabel_scores(proba, strategy) if multilabel else multiclass_scores(proba, strategy)  # type: ignore[arg-type]


def _next(
    pool: pd.DataFrame,
    unlabelled: np.ndarray,
    strategy: str,
    model: object,
    size: int,
    rng: np.random.Generator,
    proba: Callable[[object, pd.DataFrame], np.ndarray],
    multilabel: bool,
) -> np.ndarray:
    """Positions (in ``pool``) of the next ``size`` records to label."""
    if strategy == RANDOM or model is None:
        return rng.choice(unlabelled, size=min(size, len(unlabelled)), replace=False)
    chosen = select(_scores(proba(model, pool.iloc[unlabelled]), strategy, multilabel), size)
    return unlabelled[chosen]


def simulate(
    pool: pd.DataFrame,
    strategy: str,
    seed: int,
    seed_size: int,
    round_size: int,
    rounds: int,
    fit: Callable[[pd.DataFrame], object],
    proba: Callable[[object, pd.DataFrame], np.ndarray],
    score: Callable[[object], float],
    multilabel: bool = False,
    usable: Callable[[pd.DataFrame], bool] = lambda rows: len(rows) > 0,
) -> Curve:
    """The curve of one strategy from one random seed set (the same seed set for every strategy of
    a seed, so curves differ by the choice of records only). ``usable(rows)``: whether the labelled
    rows can train a model yet (e.g. both classes present); until then records are chosen at random."""
    rng = np.random.default_rng(seed)
    labelled = rng.choice(len(pool), size=seed_size, replace=False)
    counts, metrics = [], []
    for _ in range(rounds + 1):
        rows = pool.iloc[np.sort(labelled)]
        model = fit(rows) if usable(rows) else None
        counts.append(len(labelled))
        metrics.append(score(model) if model is not None else float("nan"))
        unlabelled = np.setdiff1d(np.arange(len(pool)), labelled)
        if not len(unlabelled):
            break
        picked = _next(pool, unlabelled, strategy, model, round_size, rng, proba, multilabel)
        labelled = np.concatenate([labelled, picked])
    return Curve(strategy, seed, tuple(counts), tuple(metrics))


def labels_to_reach(curve: Curve, target: float) -> int | None:
    """The fewest labels after which the curve reaches ``target`` (None: it never does)."""
    for count, value in zip(curve.labels, curve.metric, strict=True):
        if not np.isnan(value) and value >= target:
            return count
    return None


def summary(curves: Sequence[Curve], full_metric: float, fraction: float = 0.95) -> pd.DataFrame:
    """Per strategy: labels to reach ``fraction`` of the full-data metric (median and spread over
    seeds; a seed that never reaches it counts as the pool's size plus one round, and is counted),
    and the area under the curve (mean metric over rounds)."""
    target = fraction * full_metric
    rows = []
    for strategy in sorted({c.strategy for c in curves}):
        mine = [c for c in curves if c.strategy == strategy]
        reached = [labels_to_reach(c, target) for c in mine]
        ceiling = max(c.labels[-1] for c in mine) + (
            mine[0].labels[1] - mine[0].labels[0] if len(mine[0].labels) > 1 else 1
        )
        values = np.array([r if r is not None else ceiling for r in reached], dtype=float)
        rows.append(
            {
                "strategy": strategy,
                "labels_to_target_median": float(np.median(values)),
                "labels_to_target_min": float(values.min()),
                "labels_to_target_max": float(values.max()),
                "seeds_not_reaching": sum(r is None for r in reached),
                "mean_metric": float(np.nanmean([np.nanmean(c.metric) for c in mine])),
                "final_metric": float(np.nanmean([c.metric[-1] for c in mine])),
            }
        )
    return pd.DataFrame(rows)

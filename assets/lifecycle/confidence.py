"""How sure the holdout lets the gate be: a bootstrap over holdout groups and a floor on positives.

On a small holdout a point estimate such as "PR AUC 5 points above prevalence" is mostly noise: 39
rows with six churners can show that lift by luck. So the gate judges each thresholded metric by the
lower end of a bootstrap interval, resampling whole groups (a user's rows at several cutoffs, a
series, an id) because rows of one group are not independent. With fewer positives than the rule
asks for, no interval is trusted and the gate fails saying so. Plain numpy/pandas, no Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ConfidenceRule:
    """The same rule for every use case (``LifecycleSpec.confidence``).

    ``level`` is the two-sided coverage of the interval; its lower end is what must clear a
    threshold (its upper end when lower is better). ``min_positives``: fewer positive rows in the
    holdout than this and the gate refuses to judge.
    """

    min_positives: int = 30
    level: float = 0.90
    resamples: int = 200
    seed: int = 0


def count_positives(frame: pd.DataFrame, labels: Sequence[str], task: str, label_column: str | None) -> int:
    """Rows that carry the signal a model must find: for multi-class, rows outside the most frequent
    class (churners, anomalies, the rarer relevance class); for multi-label, rows with any label."""
    if not len(frame):
        return 0
    if task == "multilabel":
        return int((frame[list(labels)].to_numpy(dtype=int).sum(axis=1) > 0).sum())
    counts = frame[label_column].astype(str).value_counts()
    return int(len(frame) - counts.iloc[0])


def group_bootstrap(
    groups: pd.Series,
    metrics_of: Callable[[np.ndarray], Mapping[str, float]],
    names: Sequence[str],
    rule: ConfidenceRule,
) -> dict[str, tuple[float, float]]:
    """``{name: (low, high)}``: percentile intervals of ``metrics_of(row positions)`` over resamples
    that draw whole groups with replacement. Resamples where a metric is undefined (NaN: one class
    only) are left out of that metric; a metric never defined gets no interval."""
    codes, uniques = pd.factorize(groups.astype(str), sort=True)
    rows_of = [np.flatnonzero(codes == g) for g in range(len(uniques))]
    rng = np.random.default_rng(rule.seed)
    draws: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rule.resamples):
        chosen = rng.integers(0, len(uniques), size=len(uniques))
        positions = np.concatenate([rows_of[g] for g in chosen]) if len(chosen) else np.array([], int)
        values = metrics_of(positions)
        for name in names:
            value = values.get(name)
            if value is not None and np.isfinite(value):
                draws[name].append(float(value))
    tail = (1.0 - rule.level) / 2.0
    return {
        name: (float(np.quantile(v, tail)), float(np.quantile(v, 1.0 - tail)))
        for name, v in draws.items()
        if v
    }

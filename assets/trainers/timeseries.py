"""A window classifier for use cases whose records are windows of one signal (a sequence of numbers):
features that do not depend on the window's length (level, spread, shape, trend, roughness, spectrum),
then the shared tabular estimators (:mod:`assets.trainers.tabular`).

A record's window (``values``) may be a list or array of numbers or a text of numbers separated by
``;``, ``,`` or spaces (as a CSV cell or a JSON field carries it); a value that is not a number is
missing. The served model (:class:`~assets.trainers.featurized.FeaturizedClassifier`) computes the
features from the records as they arrive, so the contract is the window itself: one probability
column per class, then ``prediction``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from assets.trainers.featurized import FeaturizedClassifier, featurized_baseline, featurized_trainers
from assets.trainers.serving import pip_requirements
from assets.trainers.tabular import TabularTask
from assets.trainers.window_values import as_window

__all__ = [
    "FEATURES",
    "WindowTask",
    "baseline_trainers",
    "pip_requirements",
    "window_features",
    "window_trainers",
]

#: Spectral energy is split into this many equal bands of the one-sided spectrum.
BANDS = 4
FEATURES: tuple[str, ...] = (
    "length", "mean", "std", "min", "max", "median", "q10", "q90", "first", "last", "slope",
    "mean_abs_diff", "max_abs_diff", "crossings", "skew", "kurtosis", "missing",
    *(f"band_{b}" for b in range(BANDS)),
)  # fmt: skip


@dataclass(frozen=True)
class WindowTask:
    """What a window use case is: the column holding each window, the threshold metric of the
    tabular trainers (``"f1"``, ``"f2"``, ``"none"``), the positive class of a binary cut."""

    values_column: str = "values"
    metric: str = "none"
    positive_class: str | None = None
    label_column: str = "label"

    def tabular(self) -> TabularTask:
        return TabularTask(
            feature_columns=FEATURES,
            metric=self.metric,
            positive_class=self.positive_class,
            label_column=self.label_column,
        )


def _one(window: np.ndarray) -> list[float]:
    present = window[~np.isnan(window)]
    if len(present) < 2:
        return [float(len(window))] + [np.nan] * (len(FEATURES) - 1)
    centred = present - present.mean()
    std = present.std()
    diffs = np.diff(present)
    spectrum = np.abs(np.fft.rfft(centred)) ** 2
    bands = (
        [part.sum() for part in np.array_split(spectrum[1:], BANDS)]
        if len(spectrum) > BANDS
        else [0.0] * BANDS
    )
    total = sum(bands) or 1.0
    scaled = centred / std if std > 0 else np.zeros_like(centred)
    return [
        float(len(window)), present.mean(), std, present.min(), present.max(), np.median(present),
        np.quantile(present, 0.1), np.quantile(present, 0.9), present[0], present[-1],
        np.polyfit(np.arange(len(present)), present, 1)[0], np.abs(diffs).mean(), np.abs(diffs).max(),
        float((np.diff(np.sign(centred)) != 0).mean()), float((scaled**3).mean()), float((scaled**4).mean()),
        1.0 - len(present) / len(window), *[b / total for b in bands],
    ]  # fmt: skip


def window_features(records: pd.DataFrame, values_column: str = "values") -> pd.DataFrame:
    """:data:`FEATURES` of each record's window, on the records' index (NaN for a missing window)."""
    windows = (
        records[values_column] if values_column in records.columns else pd.Series(None, index=records.index)
    )
    rows = [_one(as_window(v)) for v in windows]
    return pd.DataFrame(rows, columns=list(FEATURES), index=records.index, dtype=float)


def window_trainers(
    task: WindowTask, estimators: Sequence[str] = ("hist_gbm", "random_forest")
) -> dict[str, Callable[..., FeaturizedClassifier]]:
    """The competing trainers (``LifecycleSpec.trainers``): each tabular estimator on the features."""
    featurize = partial(window_features, values_column=task.values_column)
    return featurized_trainers(featurize, task.tabular(), estimators, "features")


def baseline_trainers(task: WindowTask) -> dict[str, Callable[..., FeaturizedClassifier]]:
    """The ``majority`` baseline only run config picks (``LifecycleSpec.extra_trainers``)."""
    return featurized_baseline(partial(window_features, values_column=task.values_column), task.tabular())

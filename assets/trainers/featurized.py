"""Features first, then the shared tabular estimators: how the window and image trainers learn.

A record kind whose raw form the tabular estimators cannot read (a window of a signal, an image) gives
a ``featurize(records) -> frame of numbers`` function; :class:`FeaturizedClassifier` applies it to the
records as they arrive and hands the frame to a fitted :class:`TabularClassifier`, so the served
contract stays the raw record. ``featurize`` is pickled with the model: a module-level function, or a
``functools.partial`` of one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from assets.trainers.tabular import ESTIMATORS, TabularClassifier, TabularTask, train_tabular

Featurize = Callable[[pd.DataFrame], pd.DataFrame]


class FeaturizedClassifier(PythonModel):
    """``featurize`` the records, then a fitted :class:`TabularClassifier` on the features."""

    def __init__(self, featurize: Featurize, model: TabularClassifier) -> None:
        self.featurize = featurize
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.model.predict(context, self.featurize(model_input))


def train_featurized(
    train_df: pd.DataFrame,
    labels: list[str],
    seed: int = 0,
    *,
    featurize: Featurize,
    task: TabularTask,
    estimator: str | None,
) -> FeaturizedClassifier:
    """Fit ``estimator`` (None: the majority baseline) on ``featurize(train_df)`` and its labels."""
    features = featurize(train_df).assign(**{task.label_column: train_df[task.label_column].to_numpy()})
    return FeaturizedClassifier(
        featurize, train_tabular(features, labels, seed, task=task, estimator=estimator)
    )


def featurized_trainers(
    featurize: Featurize, task: TabularTask, estimators: Sequence[str], prefix: str
) -> dict[str, Callable[..., FeaturizedClassifier]]:
    """``<prefix>_<estimator>`` trainers (``LifecycleSpec.trainers``), one per tabular estimator."""
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; known: {sorted(ESTIMATORS)}")
    return {
        f"{prefix}_{name}": partial(train_featurized, featurize=featurize, task=task, estimator=name)
        for name in estimators
    }


def featurized_baseline(
    featurize: Featurize, task: TabularTask
) -> dict[str, Callable[..., FeaturizedClassifier]]:
    """The ``majority`` baseline only run config picks (``LifecycleSpec.extra_trainers``)."""
    return {"majority": partial(train_featurized, featurize=featurize, task=task, estimator=None)}

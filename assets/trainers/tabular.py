"""One tabular classifier for use cases whose records are flat columns: numbers, optionally categories.

A use case is a :class:`TabularTask` (its feature and categorical columns, multi-class or
multi-label, the threshold metric); :func:`tabular_trainers` gives it the competing trainers
``hist_gbm``, ``random_forest`` and ``logreg``, :func:`baseline_trainers` the ``majority`` baseline,
all with the lifecycle's signature ``(train_df, labels, seed) -> model``.

The served object is :class:`TabularClassifier`, a plain ``mlflow.pyfunc.PythonModel``: records in as
they arrive (a missing feature, column or value, is NaN; a number that does not parse is NaN; extra
columns are ignored), out the contract of :mod:`assets.trainers.serving`: one probability column per
class or label, then ``prediction``. Missing values: gradient boosting splits on NaN natively and
takes categories as categories; the forest and the logistic regression see medians (plus an
indicator of what was missing) and one-hot categories, an unseen category encoding as none.

Training frames: multi-class, a label column (``TabularTask.label_column``, class names or values
whose text is one); multi-label, one 0/1 column per label. Thresholds (binary: the positive class's
cut; multi-label: one per label) are tuned for the metric on a validation split, then the model is
refit on all the rows and keeps them; more than two classes predict the argmax. Trees give many rows
the same probability, so a cut sits halfway between two scores (``fbeta_threshold(between=True)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from assets.trainers.serving import (
    DEFAULT_THRESHOLD,
    fbeta_threshold,
    metric_beta,
    pip_requirements,
    positive_index,
    prediction_frame,
)
from assets.trainers.targets import class_indices

__all__ = [
    "ESTIMATORS",
    "TabularClassifier",
    "TabularTask",
    "baseline_trainers",
    "model_inputs",
    "pip_requirements",
    "tabular_trainer",
    "tabular_trainers",
    "train_majority",
    "train_tabular",
]

#: Below this many rows OpenMP threads cost more than they save, and on a shared machine far more.
_SINGLE_THREAD_ROWS = 50_000


@dataclass(frozen=True)
class TabularTask:
    """What a tabular use case is, for the classifier. ``metric``: the threshold metric (``"f2"``,
    ``"f1"``, ``"f0.5"`` or ``"none"``, see :data:`assets.trainers.serving.BETAS`); ``positive_class``:
    the class a binary cut is for (default: the second)."""

    feature_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...] = ()
    task: Literal["multiclass", "multilabel"] = "multiclass"
    metric: str = "none"
    label_column: str = "label"
    positive_class: str | None = None
    validation_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not self.feature_columns and not self.categorical_columns:
            raise ValueError("a tabular task needs at least one feature column")
        if self.task not in ("multiclass", "multilabel"):
            raise ValueError(f"task must be 'multiclass' or 'multilabel', not {self.task!r}")
        overlap = set(self.feature_columns) & set(self.categorical_columns)
        if overlap:
            raise ValueError(f"columns {sorted(overlap)} cannot be both numeric and categorical")
        metric_beta(self.metric)

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"


def model_inputs(records: pd.DataFrame, task: TabularTask) -> pd.DataFrame:
    """What the estimators see, on the records' index: each feature as a float (NaN where missing or
    not a number), each categorical column as text (NaN where missing); every other column dropped."""
    empty = pd.Series(np.nan, index=records.index, dtype=object)
    inputs: dict[str, pd.Series] = {}
    for column in task.feature_columns:
        inputs[column] = pd.to_numeric(records.get(column, empty), errors="coerce").astype(float)
    for column in task.categorical_columns:
        values = records.get(column, empty).astype(object)
        inputs[column] = values.astype(str).where(values.notna(), np.nan)
    return pd.DataFrame(inputs, index=records.index)


def _limited_threads(rows: int) -> AbstractContextManager:
    return threadpool_limits(1) if rows < _SINGLE_THREAD_ROWS else nullcontext()


class TabularClassifier(PythonModel):
    """The fitted model. Multi-class: ``pipeline`` over the class positions (None: a constant model
    predicting ``rates``, the baseline or data of one class). Multi-label: ``pipelines`` holds one
    binary pipeline per label that varied in training; the others predict their training rate."""

    def __init__(
        self,
        task: TabularTask,
        classes: list[str],
        rates: Mapping[str, float],
        thresholds: Mapping[str, float],
        pipeline: Pipeline | None = None,
        pipelines: Mapping[str, Pipeline] | None = None,
    ) -> None:
        self.task = task
        self.classes = list(classes)
        self.rates = dict(rates)
        self.thresholds = dict(thresholds)
        self.pipeline = pipeline
        self.pipelines = dict(pipelines or {})

    def predict_proba(self, records: pd.DataFrame) -> np.ndarray:
        """Probabilities, one column per class or label in ``classes`` order."""
        inputs = model_inputs(records, self.task)
        proba = np.tile([self.rates[c] for c in self.classes], (len(inputs), 1)).astype(float)
        if not len(inputs):
            return proba
        with _limited_threads(len(inputs)):
            if self.task.multilabel:
                for j, label in enumerate(self.classes):
                    if label in self.pipelines:
                        proba[:, j] = _positive_proba(self.pipelines[label], inputs)
            elif self.pipeline is not None:
                proba[:] = 0.0  # a class the model never saw gets nothing
                proba[:, self.pipeline.classes_] = self.pipeline.predict_proba(inputs)
        return proba

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return prediction_frame(
            self.predict_proba(model_input),
            self.classes,
            model_input.index,
            self.task.multilabel,
            self.thresholds,
            self.task.positive_class,
        )


# -- estimators ------------------------------------------------------------------------------------
def _hist_gbm(task: TabularTask, seed: int) -> Pipeline:
    """Boosting usually beats bagging on tabular features; it splits on NaN and on categories itself.
    Balanced class weights keep rare classes from being ignored."""
    columns = [("numeric", "passthrough", list(task.feature_columns))]
    if task.categorical_columns:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
        columns.append(("categorical", encoder, list(task.categorical_columns)))
    categorical = [False] * len(task.feature_columns) + [True] * len(task.categorical_columns)
    model = HistGradientBoostingClassifier(
        categorical_features=categorical if task.categorical_columns else None,
        class_weight="balanced",
        random_state=seed,
    )
    return make_pipeline(ColumnTransformer(columns), model)


def _imputed(task: TabularTask, scale: bool) -> ColumnTransformer:
    """Medians for missing numbers, with an indicator of which were missing (missing can be a signal),
    and one-hot categories (missing is a category of its own; an unseen one encodes as none)."""
    numeric = [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
    if scale:
        numeric.append(StandardScaler())
    columns = [("numeric", make_pipeline(*numeric), list(task.feature_columns))]
    if task.categorical_columns:
        columns.append(
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(task.categorical_columns))
        )
    return ColumnTransformer(columns)


def _random_forest(task: TabularTask, seed: int) -> Pipeline:
    forest = RandomForestClassifier(n_estimators=200, class_weight="balanced", random_state=seed, n_jobs=1)
    return make_pipeline(_imputed(task, scale=False), forest)


def _logreg(task: TabularTask, seed: int) -> Pipeline:
    """A linear baseline worth competing: scaled features, balanced class weights."""
    model = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    return make_pipeline(_imputed(task, scale=True), model)


#: Estimator factories ``(task, seed) -> unfitted pipeline`` by trainer name.
ESTIMATORS: dict[str, Callable[[TabularTask, int], Pipeline]] = {
    "hist_gbm": _hist_gbm,
    "random_forest": _random_forest,
    "logreg": _logreg,
}


# -- training --------------------------------------------------------------------------------------
def _positive_proba(pipeline: Pipeline, inputs: pd.DataFrame) -> np.ndarray:
    return pipeline.predict_proba(inputs)[:, list(pipeline.classes_).index(1)]


def _varies(y: np.ndarray) -> bool:
    return len(np.unique(y)) >= 2


def _fit_per_label(
    estimator: Pipeline, inputs: pd.DataFrame, y: np.ndarray, labels: list[str]
) -> dict[str, Pipeline]:
    """One binary pipeline per label that varies in ``y`` (a constant one has nothing to learn)."""
    return {
        label: clone(estimator).fit(inputs, y[:, j]) for j, label in enumerate(labels) if _varies(y[:, j])
    }


def _split(rows: int, task: TabularTask, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return train_test_split(np.arange(rows), test_size=task.validation_fraction, random_state=seed)


def _train_multilabel(
    inputs: pd.DataFrame,
    train_df: pd.DataFrame,
    labels: list[str],
    seed: int,
    task: TabularTask,
    estimator: Pipeline | None,
) -> dict[str, Any]:
    y = train_df[labels].to_numpy(dtype=int)
    model = {
        "classes": labels,
        "rates": {label: float(y[:, j].mean()) for j, label in enumerate(labels)},
        "thresholds": dict.fromkeys(labels, DEFAULT_THRESHOLD),
    }
    if estimator is None:
        return model
    beta = metric_beta(task.metric)
    if beta is not None:
        fit_rows, val_rows = _split(len(y), task, seed)
        probe = _fit_per_label(estimator, inputs.iloc[fit_rows], y[fit_rows], labels)
        val = inputs.iloc[val_rows]
        model["thresholds"].update(
            {
                label: fbeta_threshold(y[val_rows, j], _positive_proba(probe[label], val), beta, between=True)
                for j, label in enumerate(labels)
                if label in probe
            }
        )
    return {**model, "pipelines": _fit_per_label(estimator, inputs, y, labels)}


def _binary_cut(
    inputs: pd.DataFrame, y: np.ndarray, positive: int, seed: int, task: TabularTask, estimator: Pipeline
) -> float:
    """The positive class's cut for the task's F-beta, from a probe fitted outside a validation split."""
    fit_rows, val_rows = _split(len(y), task, seed)
    if not _varies(y[fit_rows]):
        return DEFAULT_THRESHOLD
    probe = clone(estimator).fit(inputs.iloc[fit_rows], y[fit_rows])
    proba = probe.predict_proba(inputs.iloc[val_rows])[:, list(probe.classes_).index(positive)]
    return fbeta_threshold(
        (y[val_rows] == positive).astype(int), proba, metric_beta(task.metric), between=True
    )


def _train_multiclass(
    inputs: pd.DataFrame,
    train_df: pd.DataFrame,
    labels: list[str],
    seed: int,
    task: TabularTask,
    estimator: Pipeline | None,
) -> dict[str, Any]:
    classes = [str(label) for label in labels]
    y = class_indices(train_df[task.label_column], classes)
    counts = np.bincount(y, minlength=len(classes))
    rates = {c: float(counts[j] / max(len(y), 1)) for j, c in enumerate(classes)}
    positive = positive_index(classes, task.positive_class) if len(classes) == 2 else None
    thresholds = {} if positive is None else {classes[positive]: DEFAULT_THRESHOLD}
    if estimator is None or not _varies(y):
        return {"classes": classes, "rates": rates, "thresholds": thresholds}
    if positive is not None and metric_beta(task.metric) is not None:
        thresholds = {classes[positive]: _binary_cut(inputs, y, positive, seed, task, estimator)}
    return {
        "classes": classes,
        "rates": rates,
        "thresholds": thresholds,
        "pipeline": clone(estimator).fit(inputs, y),
    }


def train_tabular(
    train_df: pd.DataFrame, labels: list[str], seed: int = 0, *, task: TabularTask, estimator: str | None
) -> TabularClassifier:
    """Fit the named estimator (:data:`ESTIMATORS`; None: the majority baseline) for ``task``;
    ``labels`` are the class names or the label columns, as the lifecycle passes them."""
    inputs = model_inputs(train_df, task).reset_index(drop=True)
    unfitted = ESTIMATORS[estimator](task, seed) if estimator is not None else None
    train = _train_multilabel if task.multilabel else _train_multiclass
    with _limited_threads(len(inputs)):
        fitted = train(inputs, train_df, [str(label) for label in labels], seed, task, unfitted)
    return TabularClassifier(task, **fitted)


def train_majority(
    train_df: pd.DataFrame, labels: list[str], seed: int = 0, *, task: TabularTask
) -> TabularClassifier:
    """A deliberately weak baseline: the training rate of each class or label and the 0.5 cut, so it
    predicts the majority. Tests use it to prove the gate rejects worse."""
    return train_tabular(train_df, labels, seed, task=task, estimator=None)


def tabular_trainer(task: TabularTask, estimator: str) -> Callable[..., TabularClassifier]:
    """The named estimator bound to ``task``: a trainer ``(train_df, labels, seed) -> model``."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; known: {sorted(ESTIMATORS)}")
    return partial(train_tabular, task=task, estimator=estimator)


def tabular_trainers(task: TabularTask) -> dict[str, Callable[..., TabularClassifier]]:
    """The competing trainers of a tabular use case (``LifecycleSpec.trainers``), by name."""
    return {name: tabular_trainer(task, name) for name in ESTIMATORS}


def baseline_trainers(task: TabularTask) -> dict[str, Callable[..., TabularClassifier]]:
    """The baseline only run config picks (``LifecycleSpec.extra_trainers``): ``majority``."""
    return {"majority": partial(train_majority, task=task)}

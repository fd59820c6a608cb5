"""One text classifier for every text use case: TF-IDF features, logistic regression, tuned cuts.

A use case is a :class:`TextTask` (which columns hold the text and the categories, multi-class or
multi-label, the threshold metric, where soft targets are); a trainer is a :class:`TextRecipe` (which
n-grams, which regularisation, how soft targets are used) bound to a task by :func:`text_trainer`.
Trainers have the lifecycle's signature ``(train_df, labels, seed) -> model``.

The served object is :class:`TextClassifier`, a plain ``mlflow.pyfunc.PythonModel``: records in as
they arrive (the text columns and the categorical ones; missing ones are empty, extra ones ignored),
out the contract of :mod:`assets.trainers.serving`: one probability column per class or label, then
``prediction``. Nothing here imports Dagster or Snorkel: champions load in plain Python processes.

Training frames:

- multi-label: one 0/1 column per label;
- multi-class: a label column (``TextTask.label_column``) and optionally soft targets, P(class)
  columns as :mod:`assets.trainers.targets` describes (``p_<class>`` unless the task maps them).
  Hard labels are soft targets that are certain.

Soft targets are learnt in one of two ways (Snorkel's "noise-aware" training): ``"soft"`` repeats each
row once per class, weighted by that class's probability, so that logistic regression minimises the
expected log-loss under the label distribution; ``"confident"`` keeps the rows some labeling function
voted on whose most probable class is at least ``min_confidence`` sure, as hard labels weighted by
that confidence.

Thresholds (multi-label: one per label; binary: the positive class's cut) are tuned for the task's
metric on a validation split of the training frame, then the classifiers are refit on all of it and
keep them: the holdout that judges the model is never seen. The features see no labels, so they are
fitted once on the whole frame and shared by both fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from scipy.sparse import spmatrix
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder

from assets.trainers.serving import (
    DEFAULT_THRESHOLD,
    fbeta_threshold,
    metric_beta,
    pip_requirements,
    positive_index,
    prediction_frame,
)
from assets.trainers.targets import LF_VOTES, hard_labels, soft_targets

__all__ = [
    "DEFAULT_RECIPES",
    "TextClassifier",
    "TextRecipe",
    "TextTask",
    "baseline_trainers",
    "model_inputs",
    "pip_requirements",
    "prior_trainer",
    "text_trainer",
    "text_trainers",
    "train_prior",
    "train_text",
    "unseeded",
]

UNKNOWN_CATEGORY = "unknown"
#: Below this weight a repeated row carries nothing (a certain row needs no copy for other classes).
_MIN_WEIGHT = 1e-6


@dataclass(frozen=True)
class TextTask:
    """What a text use case is, for the classifier.

    ``text_columns``: where the text is; the default reader joins them with a space (a missing column
    or value is empty text), ``text_reader`` replaces it (``records -> texts``, e.g. a preferred column
    with a fallback). ``categorical_columns`` are one-hot encoded (missing: ``"unknown"``; a category
    unseen in training encodes as none). ``metric``: the threshold metric (``"f2"``, ``"f1"``,
    ``"f0.5"`` or ``"none"`` for the 0.5 cut, see :data:`assets.trainers.serving.BETAS`); a multi-class
    task of more than two classes predicts the argmax. ``preprocessor`` is applied to each text before
    the n-grams (default: lowercase). ``soft_columns`` maps classes to their P(class) column (default
    ``p_<class>``); ``votes_column`` counts LF votes for the confident trainers. ``positive_class``: the
    class a binary cut is for (default: the second). ``integer_predictions``: class names are integers
    as text and ``prediction`` serves the integer. The task is pickled with the model: callables must be
    importable module-level functions.
    """

    text_columns: tuple[str, ...]
    task: Literal["multiclass", "multilabel"]
    metric: str = "none"
    categorical_columns: tuple[str, ...] = ()
    label_column: str = "label"
    soft_columns: Mapping[str, str] = field(default_factory=dict)
    votes_column: str | None = LF_VOTES
    positive_class: str | None = None
    integer_predictions: bool = False
    preprocessor: Callable[[str], str] | None = None
    text_reader: Callable[[pd.DataFrame], pd.Series] | None = None
    validation_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not self.text_columns:
            raise ValueError("a text task needs at least one text column")
        if self.task not in ("multiclass", "multilabel"):
            raise ValueError(f"task must be 'multiclass' or 'multilabel', not {self.task!r}")
        if self.text_column in self.categorical_columns:
            raise ValueError(f"{self.text_column!r} cannot be both a text and a categorical column")
        metric_beta(self.metric)  # fail at declaration, not after an hour of training
        # A copy, so that the caller's mapping changing later cannot change a declared task.
        object.__setattr__(self, "soft_columns", dict(self.soft_columns))

    @property
    def text_column(self) -> str:
        """What the model's input frame calls the text (the first text column)."""
        return self.text_columns[0]

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"


@dataclass(frozen=True)
class TextRecipe:
    """How one trainer learns. ``features``: word 1-2 grams, or those and character 3-5 grams within
    words (which catch the misspellings, inflections and run-together words of SMS and tweets).
    ``C``, ``class_weight`` and ``tol`` go to the logistic regression; ``seeded`` gives it the
    trainer's seed (liblinear shuffles rows; unseeded it draws from NumPy's global generator).
    ``targets`` and ``min_confidence``: how soft targets are learnt (module doc)."""

    features: Literal["word", "word_char"] = "word"
    word_min_df: int = 2
    char_min_df: int = 3
    C: float = 4.0
    class_weight: str | None = None
    tol: float = 1e-4
    seeded: bool = True
    targets: Literal["soft", "confident"] = "soft"
    min_confidence: float = 0.55


#: The trainers :func:`text_trainers` builds by default.
DEFAULT_RECIPES: dict[str, TextRecipe] = {
    # Fast and solid.
    "tfidf_logreg": TextRecipe(features="word", C=4.0),
    # Balanced class weights, so that rare classes (a few dozen rows) are not drowned by the others
    # before the thresholds are tuned; the looser tolerance cut the disaster fit by a third for the
    # same holdout F2.
    "tfidf_wordchar_logreg": TextRecipe(features="word_char", C=1.0, class_weight="balanced", tol=1e-2),
}


def _joined_text(records: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    empty = pd.Series(index=records.index, dtype=object)
    parts = [records.get(c, empty).astype(object).fillna("").astype(str) for c in columns]
    text = parts[0]
    for part in parts[1:]:
        text = text.str.cat(part, sep=" ")
    return text.str.strip() if len(parts) > 1 else text


def model_inputs(records: pd.DataFrame, task: TextTask) -> pd.DataFrame:
    """What the features see, on the records' index: the text (named ``task.text_column``) and each
    categorical column as text, ``"unknown"`` where missing; every other column dropped."""
    text = task.text_reader(records) if task.text_reader else _joined_text(records, task.text_columns)
    empty = pd.Series(index=records.index, dtype=object)
    inputs = {task.text_column: text}
    for column in task.categorical_columns:
        inputs[column] = records.get(column, empty).astype(object).fillna(UNKNOWN_CATEGORY).astype(str)
    return pd.DataFrame(inputs, index=records.index)


class TextClassifier(PythonModel):
    """The fitted model: shared features and logistic regressions, with the task's decision rule.

    Multi-label: ``classifiers`` holds one binary model per label that varied in training; the others
    (a label never 1 in the data) predict their training rate, so the output always has every label.
    Multi-class: ``classifier`` is one model over the class positions, None for a constant model that
    predicts ``rates`` (the baseline, or training data of one class). ``thresholds`` per label
    (multi-label) or for the positive class (binary).
    """

    def __init__(
        self,
        task: TextTask,
        classes: list[str],
        rates: Mapping[str, float],
        thresholds: Mapping[str, float],
        features: ColumnTransformer | None = None,
        classifiers: Mapping[str, LogisticRegression] | None = None,
        classifier: LogisticRegression | None = None,
    ) -> None:
        self.task = task
        self.classes = list(classes)
        self.rates = dict(rates)
        self.thresholds = dict(thresholds)
        self.features = features
        self.classifiers = dict(classifiers or {})
        self.classifier = classifier

    def predict_proba(self, records: pd.DataFrame) -> np.ndarray:
        """Probabilities, one column per class or label in ``classes`` order."""
        inputs = model_inputs(records, self.task)
        X = self.features.transform(inputs) if self.features is not None and len(inputs) else None
        if self.task.multilabel:
            return _label_proba(self.classes, self.rates, self.classifiers, X, len(inputs))
        if X is None or self.classifier is None:
            return np.tile([self.rates[c] for c in self.classes], (len(inputs), 1)).astype(float)
        proba = np.zeros((len(inputs), len(self.classes)))  # a class the classifier never saw gets 0
        proba[:, self.classifier.classes_] = self.classifier.predict_proba(X)
        return proba

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return prediction_frame(
            self.predict_proba(model_input),
            self.classes,
            model_input.index,
            self.task.multilabel,
            self.thresholds,
            self.task.positive_class,
            self.task.integer_predictions,
        )


def _features(task: TextTask, recipe: TextRecipe) -> ColumnTransformer:
    text = task.text_column
    parts: list[tuple[str, Any, Any]] = [
        (
            "word",
            TfidfVectorizer(
                preprocessor=task.preprocessor,
                ngram_range=(1, 2),
                sublinear_tf=True,
                min_df=recipe.word_min_df,
            ),
            text,
        )
    ]
    if recipe.features == "word_char":
        char = TfidfVectorizer(
            preprocessor=task.preprocessor,
            analyzer="char_wb",
            ngram_range=(3, 5),
            sublinear_tf=True,
            min_df=recipe.char_min_df,
        )
        parts.append(("char", char, text))
    if task.categorical_columns:
        parts.append(("categorical", OneHotEncoder(handle_unknown="ignore"), list(task.categorical_columns)))
    return ColumnTransformer(parts)


def _logreg(recipe: TextRecipe, seed: int, classes: int = 2) -> LogisticRegression:
    """liblinear in its dual form for two classes: with far fewer rows than n-gram features it
    converges several times faster than the primal, to the same L2-regularised optimum. liblinear
    has no multinomial loss, so more classes use lbfgs."""
    options = {
        "C": recipe.C,
        "class_weight": recipe.class_weight,
        "tol": recipe.tol,
        "random_state": seed if recipe.seeded else None,
    }
    if classes > 2:
        return LogisticRegression(solver="lbfgs", max_iter=1000, **options)
    return LogisticRegression(solver="liblinear", dual=True, **options)


# -- multi-label -----------------------------------------------------------------------------------
def _label_rates(y: np.ndarray, labels: list[str]) -> dict[str, float]:
    return {label: float(y[:, j].mean()) for j, label in enumerate(labels)}


def _label_proba(
    labels: list[str],
    rates: Mapping[str, float],
    classifiers: Mapping[str, LogisticRegression],
    X: spmatrix | None,
    rows: int,
) -> np.ndarray:
    proba = np.tile([rates[label] for label in labels], (rows, 1)).astype(float)
    if X is not None:
        for j, label in enumerate(labels):
            if label in classifiers:
                proba[:, j] = classifiers[label].predict_proba(X)[:, 1]
    return proba


def _fit_per_label(
    X: spmatrix, y: np.ndarray, labels: list[str], make_classifier: Callable[[], LogisticRegression]
) -> dict[str, LogisticRegression]:
    """One classifier per label that varies in ``y`` (a constant one has nothing to learn).

    Sequential on purpose: on a small shared machine, process workers mostly add the cost of
    shipping the feature matrix to them (measured slower than one process on 2 busy cores).
    """
    return {
        label: make_classifier().fit(X, y[:, j])
        for j, label in enumerate(labels)
        if 0 < y[:, j].sum() < len(y)
    }


def _train_multilabel(
    train_df: pd.DataFrame, labels: list[str], seed: int, task: TextTask, recipe: TextRecipe
) -> dict[str, Any]:
    y = train_df[labels].to_numpy(dtype=int)
    features = _features(task, recipe)
    X = features.fit_transform(model_inputs(train_df, task))
    make_classifier = partial(_logreg, recipe, seed)
    beta = metric_beta(task.metric)
    thresholds = dict.fromkeys(labels, DEFAULT_THRESHOLD)
    if beta is not None:
        fit_rows, val_rows = train_test_split(
            np.arange(len(y)), test_size=task.validation_fraction, random_state=seed
        )
        probe = _fit_per_label(X[fit_rows], y[fit_rows], labels, make_classifier)
        val_proba = _label_proba(labels, _label_rates(y[fit_rows], labels), probe, X[val_rows], len(val_rows))
        # A label constant in the probe's data keeps the default: its flat rate says nothing about a cut.
        thresholds.update(
            {
                label: fbeta_threshold(y[val_rows, j], val_proba[:, j], beta)
                for j, label in enumerate(labels)
                if label in probe
            }
        )
    return {
        "classes": labels,
        "rates": _label_rates(y, labels),
        "thresholds": thresholds,
        "features": features,
        "classifiers": _fit_per_label(X, y, labels, make_classifier),
    }


# -- multi-class -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _WeightedRows:
    """What the classifier is fitted on: positions of training rows (repeated), their class, weight."""

    rows: np.ndarray
    y: np.ndarray
    weights: np.ndarray

    def select(self, keep: np.ndarray) -> _WeightedRows:
        return _WeightedRows(self.rows[keep], self.y[keep], self.weights[keep])

    @property
    def learnable(self) -> bool:
        """Two classes with weight at least: one class alone gives a constant model."""
        return len(np.unique(self.y[self.weights > 0])) >= 2


def _soft_rows(targets: np.ndarray) -> _WeightedRows:
    """Every row once per class, weighted by its probability. The blocks run from the last class to
    the first (for a binary task, positive copies first): the order liblinear visits rows in, kept
    from the tweets trainer this generalises, since reordering changes its solution slightly."""
    n, k = targets.shape
    rows = np.tile(np.arange(n), k)
    y = np.repeat(np.arange(k)[::-1], n)
    weights = np.concatenate([targets[:, c] for c in range(k)[::-1]])
    return _WeightedRows(rows, y, weights).select(weights > _MIN_WEIGHT)


def _confident_rows(targets: np.ndarray, votes: np.ndarray | None, min_confidence: float) -> _WeightedRows:
    """Rows whose most probable class is at least ``min_confidence`` sure, as hard labels weighted by
    that confidence; with ``votes``, only rows some LF voted on (a row nobody voted on carries nothing
    but the class prior; hand-labelled rows have no count, NaN, and stay)."""
    confidence = targets.max(axis=1) if len(targets) else np.empty(0)
    keep = confidence >= min_confidence
    if votes is not None:
        keep &= ~(votes == 0)
    return _WeightedRows(np.arange(len(targets)), hard_labels(targets), confidence).select(keep)


def _weighted_rows(
    train_df: pd.DataFrame, targets: np.ndarray, task: TextTask, recipe: TextRecipe
) -> _WeightedRows:
    if recipe.targets == "soft":
        return _soft_rows(targets)
    votes = None
    if task.votes_column and task.votes_column in train_df.columns:
        votes = pd.to_numeric(train_df[task.votes_column], errors="coerce").to_numpy(dtype=float)
    return _confident_rows(targets, votes, recipe.min_confidence)


def _positive(classes: list[str], task: TextTask) -> int | None:
    """The positive class's position in a binary task; None for more classes (argmax, no cut)."""
    return positive_index(classes, task.positive_class) if len(classes) == 2 else None


def _class_rates(targets: np.ndarray, classes: list[str], positive: int | None) -> dict[str, float]:
    """Each class's mean probability; for a binary task the other class gets exactly what the
    positive one leaves (the mean of ``1 - p`` can differ from ``1 - mean(p)`` in the last bit)."""
    if not len(targets):
        return dict.fromkeys(classes, 0.0)
    rates = {c: float(targets[:, j].mean()) for j, c in enumerate(classes)}
    if positive is not None:
        rates[classes[1 - positive]] = 1.0 - rates[classes[positive]]
    return rates


def _fit_classifier(
    X: spmatrix, fit: _WeightedRows, recipe: TextRecipe, seed: int, classes: int
) -> LogisticRegression:
    return _logreg(recipe, seed, classes).fit(X, fit.y, sample_weight=fit.weights)


def _binary_cut(
    inputs: pd.DataFrame,
    targets: np.ndarray,
    fitted: _WeightedRows,
    X: spmatrix,
    features: ColumnTransformer,
    task: TextTask,
    recipe: TextRecipe,
    seed: int,
    positive: int,
) -> float:
    """The positive class's cut for F-beta, from a probe fitted on the rows outside a validation
    split of the training rows (split before repetition, so no row straddles it)."""
    fit_ids, val_ids = train_test_split(
        np.arange(len(inputs)), test_size=task.validation_fraction, random_state=seed
    )
    in_fit = np.flatnonzero(np.isin(fitted.rows, fit_ids))
    probe_rows = fitted.select(in_fit)
    if not probe_rows.learnable:
        return DEFAULT_THRESHOLD
    probe = _fit_classifier(X[in_fit], probe_rows, recipe, seed, 2)
    val_proba = probe.predict_proba(features.transform(inputs.iloc[val_ids]))
    positive_proba = val_proba[:, list(probe.classes_).index(positive)]
    truth = (hard_labels(targets[val_ids]) == positive).astype(int)
    return fbeta_threshold(truth, positive_proba, metric_beta(task.metric))


def _train_multiclass(
    train_df: pd.DataFrame, labels: list[str], seed: int, task: TextTask, recipe: TextRecipe
) -> dict[str, Any]:
    classes = [str(label) for label in labels]
    inputs = model_inputs(train_df, task).reset_index(drop=True)
    targets = soft_targets(train_df, classes, task.label_column, task.soft_columns)
    fitted = _weighted_rows(train_df, targets, task, recipe)
    positive = _positive(classes, task)
    thresholds = {} if positive is None else {classes[positive]: DEFAULT_THRESHOLD}
    model = {"classes": classes, "rates": _class_rates(targets, classes, positive), "thresholds": thresholds}
    if not fitted.learnable:
        return model
    features = _features(task, recipe)
    X = features.fit_transform(inputs.iloc[fitted.rows].reset_index(drop=True))
    if positive is not None and metric_beta(task.metric) is not None:
        cut = _binary_cut(inputs, targets, fitted, X, features, task, recipe, seed, positive)
        model["thresholds"] = {classes[positive]: cut}
    classifier = _fit_classifier(X, fitted, recipe, seed, len(classes))
    return {**model, "features": features, "classifier": classifier}


# -- trainers --------------------------------------------------------------------------------------
def train_text(
    train_df: pd.DataFrame,
    labels: list[str],
    seed: int = 0,
    *,
    task: TextTask,
    recipe: TextRecipe,
    model_class: type[TextClassifier] = TextClassifier,
) -> TextClassifier:
    """Fit ``recipe`` on ``train_df`` for ``task`` (module doc); ``labels`` are the class names or the
    label columns, as the lifecycle passes them."""
    train = _train_multilabel if task.multilabel else _train_multiclass
    return model_class(task, **train(train_df, list(labels), seed, task, recipe))


def train_prior(
    train_df: pd.DataFrame,
    labels: list[str],
    seed: int = 0,
    *,
    task: TextTask,
    model_class: type[TextClassifier] = TextClassifier,
) -> TextClassifier:
    """A deliberately weak baseline: every record gets the training rate of each class or label and the
    0.5 cut, so it predicts the majority. Tests use it to prove the gate rejects worse; ``seed`` is
    unused, it keeps the trainer signature."""
    labels = [str(label) for label in labels]
    if task.multilabel:
        rates = _label_rates(train_df[labels].to_numpy(dtype=int), labels)
        return model_class(task, labels, rates, dict.fromkeys(labels, DEFAULT_THRESHOLD))
    targets = soft_targets(train_df, labels, task.label_column, task.soft_columns)
    positive = _positive(labels, task)
    thresholds = {} if positive is None else {labels[positive]: DEFAULT_THRESHOLD}
    return model_class(task, labels, _class_rates(targets, labels, positive), thresholds)


def text_trainer(
    task: TextTask, recipe: TextRecipe, model_class: type[TextClassifier] = TextClassifier
) -> Callable[..., TextClassifier]:
    """``recipe`` bound to ``task``: a trainer ``(train_df, labels, seed) -> model``."""
    return partial(train_text, task=task, recipe=recipe, model_class=model_class)


def text_trainers(
    task: TextTask,
    recipes: Mapping[str, TextRecipe] | None = None,
    model_class: type[TextClassifier] = TextClassifier,
) -> dict[str, Callable[..., TextClassifier]]:
    """The competing trainers of a text use case (``LifecycleSpec.trainers``), by name; default
    :data:`DEFAULT_RECIPES` (``tfidf_logreg``, ``tfidf_wordchar_logreg``)."""
    chosen = DEFAULT_RECIPES if recipes is None else recipes
    return {name: text_trainer(task, recipe, model_class) for name, recipe in chosen.items()}


def prior_trainer(
    task: TextTask, model_class: type[TextClassifier] = TextClassifier
) -> Callable[..., TextClassifier]:
    """:func:`train_prior` bound to ``task``."""
    return partial(train_prior, task=task, model_class=model_class)


def baseline_trainers(
    task: TextTask, model_class: type[TextClassifier] = TextClassifier
) -> dict[str, Callable[..., TextClassifier]]:
    """The baseline only run config picks (``LifecycleSpec.extra_trainers``): ``majority``."""
    return {"majority": prior_trainer(task, model_class)}


def unseeded(recipes: Mapping[str, TextRecipe]) -> dict[str, TextRecipe]:
    """``recipes`` without the seed given to liblinear (for trainers that never had it)."""
    return {name: replace(recipe, seeded=False) for name, recipe in recipes.items()}

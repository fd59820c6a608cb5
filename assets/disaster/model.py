"""The disaster-triage model as MLflow serves it, and the trainers that build it.

The served object is a plain ``mlflow.pyfunc.PythonModel`` that takes records exactly as they
arrive on Kafka (``id``, ``message``, ``genre``) and returns one probability column per label plus
``prediction``, the labels at or above their own threshold. Nothing here imports Dagster: champions
are loaded with ``mlflow.pyfunc.load_model`` in plain Python processes.

Thresholds are tuned per label for F2 because missing a call for help costs more than reading a
false alarm (recall weighs four times precision). They are tuned on a validation split of the
training frame, then the model is refit on all of it with those thresholds: the holdout that judges
the model is never seen.
"""

from __future__ import annotations

from collections.abc import Callable

import mlflow
import numpy as np
import pandas as pd
import scipy
import sklearn
from joblib import Parallel, delayed
from mlflow.pyfunc import PythonModel
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder

#: What arrives on the ``disaster.records`` topic (``original``, the untranslated text, may come too).
RECORD_COLUMNS: tuple[str, ...] = ("id", "message", "genre")
VALIDATION_FRACTION = 0.2
DEFAULT_THRESHOLD = 0.5
N_JOBS = 2


def _records(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs from raw records: a missing message is empty text, a missing genre is
    ``unknown`` (the one-hot encoder ignores categories it has not seen), other columns are dropped."""
    empty = pd.Series(index=frame.index, dtype=object)
    message = frame.get("message", empty).astype(object).fillna("").astype(str)
    genre = frame.get("genre", empty).astype(object).fillna("unknown").astype(str)
    return pd.DataFrame({"message": message, "genre": genre}, index=frame.index)


class DisasterTriageModel(PythonModel):
    """Per-label logistic regressions over shared features, with per-label thresholds.

    ``classifiers`` holds a model for each label that varied in training; the others (e.g.
    ``child_alone``, never 1 in the public data) predict their training rate, so the output always
    has every label.
    """

    def __init__(
        self,
        labels: list[str],
        thresholds: dict[str, float],
        rates: dict[str, float],
        features: ColumnTransformer | None = None,
        classifiers: dict[str, LogisticRegression] | None = None,
    ) -> None:
        self.labels = list(labels)
        self.thresholds = dict(thresholds)
        self.rates = dict(rates)
        self.features = features
        self.classifiers = dict(classifiers or {})

    def predict_proba(self, records: pd.DataFrame) -> np.ndarray:
        proba = np.tile([self.rates[label] for label in self.labels], (len(records), 1)).astype(float)
        if self.features is not None and self.classifiers and len(records):
            X = self.features.transform(_records(records))
            for j, label in enumerate(self.labels):
                if label in self.classifiers:
                    proba[:, j] = self.classifiers[label].predict_proba(X)[:, 1]
        return proba

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        proba = self.predict_proba(model_input)
        out = pd.DataFrame(proba, columns=self.labels, index=model_input.index)
        above = proba >= np.array([self.thresholds[label] for label in self.labels])
        out["prediction"] = [[self.labels[j] for j in np.flatnonzero(row)] for row in above]
        return out


def _word_features() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), "message"),
            ("genre", OneHotEncoder(handle_unknown="ignore"), ["genre"]),
        ]
    )


def _word_char_features() -> ColumnTransformer:
    """Character n-grams within words catch the misspellings, inflections and run-together words of
    SMS and tweets that word n-grams miss."""
    return ColumnTransformer(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), "message"),
            (
                "char",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
                "message",
            ),
            ("genre", OneHotEncoder(handle_unknown="ignore"), ["genre"]),
        ]
    )


def _fit(
    records: pd.DataFrame,
    y: np.ndarray,
    labels: list[str],
    thresholds: dict[str, float],
    make_features: Callable[[], ColumnTransformer],
    make_classifier: Callable[[], LogisticRegression],
) -> DisasterTriageModel:
    features = make_features()
    X = features.fit_transform(records).tocsr()
    X.sort_indices()  # joblib memory-maps X for the workers, and sklearn cannot sort a read-only map
    varying = [j for j in range(len(labels)) if 0 < y[:, j].sum() < len(y)]
    fitted = Parallel(n_jobs=N_JOBS)(delayed(make_classifier().fit)(X, y[:, j]) for j in varying)
    return DisasterTriageModel(
        labels=labels,
        thresholds=thresholds,
        rates={label: float(y[:, j].mean()) for j, label in enumerate(labels)},
        features=features,
        classifiers={labels[j]: clf for j, clf in zip(varying, fitted, strict=True)},
    )


def f2_threshold(y: np.ndarray, proba: np.ndarray) -> float:
    """The probability cut that maximises F2 on (y, proba); the default when there is nothing to tune on."""
    if y.sum() == 0 or np.ptp(proba) == 0:
        return DEFAULT_THRESHOLD
    precision, recall, cuts = precision_recall_curve(y, proba)
    f2 = 5 * precision[:-1] * recall[:-1] / np.maximum(4 * precision[:-1] + recall[:-1], 1e-12)
    return float(cuts[np.argmax(f2)])


def _train(
    train_df: pd.DataFrame,
    labels: list[str],
    seed: int,
    make_features: Callable[[], ColumnTransformer],
    make_classifier: Callable[[], LogisticRegression],
) -> DisasterTriageModel:
    records = _records(train_df)
    y = train_df[labels].to_numpy(dtype=int)
    fit_rows, val_rows = train_test_split(
        np.arange(len(records)), test_size=VALIDATION_FRACTION, random_state=seed
    )
    no_thresholds = dict.fromkeys(labels, DEFAULT_THRESHOLD)
    probe = _fit(records.iloc[fit_rows], y[fit_rows], labels, no_thresholds, make_features, make_classifier)
    val_proba = probe.predict_proba(records.iloc[val_rows])
    thresholds = {
        label: f2_threshold(y[val_rows, j], val_proba[:, j])
        if label in probe.classifiers
        else DEFAULT_THRESHOLD  # constant in the probe's data: its flat rate says nothing about a cut
        for j, label in enumerate(labels)
    }
    return _fit(records, y, labels, thresholds, make_features, make_classifier)


def train_tfidf_logreg(train_df: pd.DataFrame, labels: list[str], seed: int = 0) -> DisasterTriageModel:
    """Word 1-2 gram TF-IDF and genre, one logistic regression per label: fast and solid."""
    return _train(
        train_df,
        labels,
        seed,
        _word_features,
        lambda: LogisticRegression(C=4.0, solver="liblinear"),
    )


def train_tfidf_wordchar_logreg(
    train_df: pd.DataFrame, labels: list[str], seed: int = 0
) -> DisasterTriageModel:
    """Word and character n-grams and genre; balanced class weights so that rare labels (a few
    dozen positives) are not drowned by their negatives before the thresholds are tuned."""
    return _train(
        train_df,
        labels,
        seed,
        _word_char_features,
        lambda: LogisticRegression(C=1.0, class_weight="balanced", solver="liblinear", tol=1e-3),
    )


def train_majority(train_df: pd.DataFrame, labels: list[str], seed: int = 0) -> DisasterTriageModel:
    """A deliberately weak baseline: every label's probability is its training rate and the cut is
    0.5, so it predicts each label's majority value. Tests use it to prove the gate rejects worse."""
    y = train_df[labels].to_numpy(dtype=int)
    return DisasterTriageModel(
        labels=labels,
        thresholds=dict.fromkeys(labels, DEFAULT_THRESHOLD),
        rates={label: float(y[:, j].mean()) for j, label in enumerate(labels)},
    )


TRAINERS: dict[str, Callable[..., DisasterTriageModel]] = {
    "tfidf_logreg": train_tfidf_logreg,
    "tfidf_wordchar_logreg": train_tfidf_wordchar_logreg,
}


def pip_requirements() -> list[str]:
    """What loading the pickled model needs, pinned to the versions it was trained with (MLflow's
    own inference of requirements loads the model in a subprocess, which is slow)."""
    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"scipy=={scipy.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
    ]

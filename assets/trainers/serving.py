"""What every classifier here shares when it serves: the rule from probabilities to ``prediction``, the
probability cuts that rule is tuned with, and the pinned requirements of the pickled model.

The output contract of every Flywheel model: on the input's index, one probability column per class
(multi-class) or label (multi-label), then ``prediction``:

- multi-label: the list of label names at or above their own threshold;
- multi-class with two classes: the positive class when its probability reaches the cut, else the
  other (a cut, not an argmax, so that it can be tuned);
- multi-class with more: the most probable class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import version

import numpy as np
import pandas as pd

PREDICTION = "prediction"
DEFAULT_THRESHOLD = 0.5
#: Threshold metrics by name: F-beta of the positive class (binary) or of each label (multi-label).
#: ``"none"`` keeps the plain 0.5 cut.
BETAS: dict[str, float | None] = {"none": None, "f0.5": 0.5, "f1": 1.0, "f2": 2.0}


def metric_beta(metric: str) -> float | None:
    """The beta a threshold metric tunes for (None: no tuning). Raises ``ValueError`` for an unknown
    metric, listing the known ones."""
    if metric not in BETAS:
        raise ValueError(f"unknown threshold metric {metric!r}; known: {sorted(BETAS)}")
    return BETAS[metric]


def fbeta_threshold(y: np.ndarray, proba: np.ndarray, beta: float, between: bool = False) -> float:
    """The probability cut that maximises F-beta on (y, proba); the default when there is nothing to
    tune on (no positive, or constant probabilities).

    The best cut is one of the scores itself. ``between``: halfway down to the next lower score
    instead, for models whose scores saturate (tree ensembles give every clear positive the same
    probability): the refit model's scores differ in the last digits, and a cut at exactly the
    probe's score would then fall on either side of them."""
    from sklearn.metrics import precision_recall_curve

    if y.sum() == 0 or np.ptp(proba) == 0:
        return DEFAULT_THRESHOLD
    precision, recall, cuts = precision_recall_curve(y, proba)
    weight = beta**2
    scores = (
        (1 + weight) * precision[:-1] * recall[:-1] / np.maximum(weight * precision[:-1] + recall[:-1], 1e-12)
    )
    best = int(np.argmax(scores))
    if not between:
        return float(cuts[best])
    return float((cuts[best] + (cuts[best - 1] if best > 0 else 0.0)) / 2)


def positive_index(classes: Sequence[str], positive_class: str | None) -> int:
    """Where the positive class of a binary task is: the configured one, else the second class."""
    return list(classes).index(positive_class) if positive_class is not None else 1


def multilabel_predictions(
    proba: np.ndarray, labels: Sequence[str], thresholds: Mapping[str, float]
) -> list[list[str]]:
    """Per row, the labels at or above their threshold, in ``labels`` order."""
    above = proba >= np.array([thresholds[label] for label in labels])
    return [[labels[j] for j in np.flatnonzero(row)] for row in above]


def multiclass_predictions(
    proba: np.ndarray, classes: Sequence[str], thresholds: Mapping[str, float], positive_class: str | None
) -> np.ndarray:
    """Per row, the class index (see the module doc: a cut for two classes, the argmax for more)."""
    if len(classes) != 2:
        return np.argmax(proba, axis=1) if len(proba) else np.empty(0, dtype=np.int64)
    positive = positive_index(classes, positive_class)
    cut = thresholds.get(classes[positive], DEFAULT_THRESHOLD)
    return np.where(proba[:, positive] >= cut, positive, 1 - positive)


def prediction_frame(
    proba: np.ndarray,
    classes: Sequence[str],
    index: pd.Index,
    multilabel: bool,
    thresholds: Mapping[str, float],
    positive_class: str | None = None,
    integer_predictions: bool = False,
) -> pd.DataFrame:
    """The model's output (module doc). ``integer_predictions``: the class names are integers as text
    (``"0"``, ``"1"``) and ``prediction`` holds the integer, as the use case has always served it."""
    out = pd.DataFrame(proba, columns=list(classes), index=index)
    if multilabel:
        out[PREDICTION] = multilabel_predictions(proba, list(classes), thresholds)
        return out
    names = np.asarray(list(classes), dtype=object)[
        multiclass_predictions(proba, classes, thresholds, positive_class)
    ]
    out[PREDICTION] = names.astype("int64") if integer_predictions else names
    return out


def pip_requirements() -> list[str]:
    """What loading a pickled classifier of this package needs, pinned to the installed versions
    (MLflow's own inference of requirements loads the model in a subprocess, which is slow). No
    Snorkel, no torch: weak supervision happens before training, never when serving."""
    return [
        f"{name}=={version(name)}"
        for name in ("mlflow", "cloudpickle", "scikit-learn", "scipy", "pandas", "numpy")
    ]

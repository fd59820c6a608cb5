"""Metrics and curves for label indicator matrices, shared by every use case.

Everything takes 0/1 indicator matrices (rows = records, columns = labels), so the same code judges
multi-label models and, with one-hot truth, multi-class ones. Undefined values (average precision
of a label with no positives, ROC AUC of a label with one class) are NaN rather than an exception
or a misleading 0: a holdout may well lack a rare label.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    fbeta_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)


def indicator_matrix(predictions: list[list[str]], labels: list[str]) -> np.ndarray:
    """The pyfunc ``prediction`` column (label names per record) as a 0/1 matrix in ``labels`` order."""
    position = {label: j for j, label in enumerate(labels)}
    matrix = np.zeros((len(predictions), len(labels)), dtype=int)
    for i, names in enumerate(predictions):
        matrix[i, [position[name] for name in names]] = 1
    return matrix


def weighted_fbeta(y_true: np.ndarray, y_pred: np.ndarray, beta: float = 2.0) -> float:
    """F-beta per label averaged by support: frequent labels count more, absent ones not at all."""
    return float(fbeta_score(y_true, y_pred, beta=beta, average="weighted", zero_division=0))


def _defined(score, y: np.ndarray, proba: np.ndarray) -> float:
    """``score`` when both classes are present in ``y``, else NaN."""
    return float(score(y, proba)) if 0 < y.sum() < len(y) else float("nan")


def multilabel_report(
    y_true: np.ndarray, y_pred: np.ndarray, y_proba: np.ndarray, labels: list[str]
) -> pd.DataFrame:
    """One row per label: support, precision, recall, F1, F2 at the model's thresholds, and the
    threshold-free average precision and ROC AUC."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0
    )
    f2 = fbeta_score(y_true, y_pred, beta=2.0, average=None, zero_division=0)
    return pd.DataFrame(
        {
            "label": labels,
            "support": support.astype(int),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "f2": f2,
            "average_precision": [
                _defined(average_precision_score, y_true[:, j], y_proba[:, j]) for j in range(len(labels))
            ],
            "roc_auc": [_defined(roc_auc_score, y_true[:, j], y_proba[:, j]) for j in range(len(labels))],
        }
    )


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, y_proba: np.ndarray) -> dict[str, float]:
    """Headline numbers for a model's decisions, plus micro average precision for its ranking."""
    scores = {
        "weighted_f2": weighted_fbeta(y_true, y_pred, beta=2.0),
        "micro_f1": f1_score(y_true, y_pred, average="micro", zero_division=0),
        "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
        "samples_f1": f1_score(y_true, y_pred, average="samples", zero_division=0),
        "weighted_precision": precision_score(y_true, y_pred, average="weighted", zero_division=0),
        "weighted_recall": recall_score(y_true, y_pred, average="weighted", zero_division=0),
        "micro_average_precision": (
            average_precision_score(y_true, y_proba, average="micro") if y_true.any() else float("nan")
        ),
    }
    return {name: float(value) for name, value in scores.items()}


def _most_frequent(y_true: np.ndarray, top: int) -> list[int]:
    """Columns of the ``top`` labels with most positives, skipping labels whose curve is undefined."""
    positives = y_true.sum(axis=0)
    order = np.argsort(-positives, kind="stable")
    return [int(j) for j in order if 0 < positives[j] < len(y_true)][:top]


Curve = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _curves_png(
    y_true: np.ndarray,
    y_proba: np.ndarray,
    labels: list[str],
    path: str | Path,
    top: int,
    curve: Curve,
    axis_labels: tuple[str, str],
    title: str,
) -> Path:
    # A bare Figure renders through the Agg canvas without pyplot's global state: safe in any thread.
    figure = Figure(figsize=(8, 6))
    axes = figure.add_subplot()
    columns = _most_frequent(y_true, top)
    for j in columns:
        x, y = curve(y_true[:, j], y_proba[:, j])
        axes.plot(x, y, label=f"{labels[j]} (n={int(y_true[:, j].sum())})", linewidth=1)
    axes.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=title, xlim=(0, 1), ylim=(0, 1.02))
    if columns:
        axes.legend(fontsize="small", loc="best")
    figure.savefig(path, format="png", dpi=100)
    return Path(path)


def _pr(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    precision, recall, _ = precision_recall_curve(y, proba)
    return recall, precision


def _roc(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fpr, tpr, _ = roc_curve(y, proba)
    return fpr, tpr


def pr_curves_png(
    y_true: np.ndarray, y_proba: np.ndarray, labels: list[str], path: str | Path, top: int = 12
) -> Path:
    """Precision-recall curves of the ``top`` most frequent labels, as a PNG at ``path``."""
    return _curves_png(
        y_true,
        y_proba,
        labels,
        path,
        top,
        _pr,
        ("recall", "precision"),
        "Precision-recall, most frequent labels",
    )


def roc_curves_png(
    y_true: np.ndarray, y_proba: np.ndarray, labels: list[str], path: str | Path, top: int = 12
) -> Path:
    """ROC curves of the ``top`` most frequent labels, as a PNG at ``path``."""
    return _curves_png(
        y_true,
        y_proba,
        labels,
        path,
        top,
        _roc,
        ("false positive rate", "true positive rate"),
        "ROC, most frequent labels",
    )

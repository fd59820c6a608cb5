"""Holdout scores of one model's contract output: macro F1, ROC AUC (one vs rest, macro), accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd


def roc_auc_ovr_macro(truth: pd.Series, proba: np.ndarray, labels: list[str]) -> float:
    """Mean over classes present in ``truth`` (and not all of it) of each class's one-vs-rest ROC AUC;
    NaN when no class can be scored (a single-class holdout)."""
    from sklearn.metrics import roc_auc_score

    values = []
    for j, label in enumerate(labels):
        positive = (truth == label).to_numpy()
        if 0 < positive.sum() < len(positive):
            values.append(roc_auc_score(positive, proba[:, j]))
    return float(np.mean(values)) if values else float("nan")


def holdout_scores(truth: pd.Series, predictions: pd.DataFrame, labels: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    truth = truth.reset_index(drop=True)
    predicted = predictions["prediction"].astype(str).reset_index(drop=True)
    proba = predictions[labels].to_numpy(dtype=float)
    return {
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "roc_auc_ovr_macro": roc_auc_ovr_macro(truth, proba, labels),
        "accuracy": float(accuracy_score(truth, predicted)),
    }

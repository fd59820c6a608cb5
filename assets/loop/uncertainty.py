"""Uncertainty sampling: which scored records are worth a person's time.

Scores are "higher = more uncertain" so that the annotation queue can order by one number:

``least_confidence``  1 - max class probability (multi-class).
``margin``            1 - (top probability - second probability): a near tie between two classes.
``entropy``           Shannon entropy of the class distribution, divided by log(classes) to lie in [0, 1].

Multi-label models give each label an independent probability, so each label is a binary question
whose uncertainty is computed as above on ``(p, 1 - p)`` and then aggregated across labels
(``mean`` by default: a message unsure about many labels beats one unsure about a single label;
``max`` picks the single most doubtful decision).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Strategy = Literal["least_confidence", "margin", "entropy"]
Aggregate = Literal["mean", "max"]
STRATEGIES: tuple[str, ...] = ("least_confidence", "margin", "entropy")
_EPS = 1e-12


def _normalised(proba: np.ndarray) -> np.ndarray:
    proba = np.clip(np.asarray(proba, dtype=float), 0.0, None)
    total = proba.sum(axis=1, keepdims=True)
    return np.divide(proba, total, out=np.full_like(proba, 1.0 / max(proba.shape[1], 1)), where=total > 0)


def multiclass_scores(proba: np.ndarray, strategy: Strategy) -> np.ndarray:
    """One uncertainty per row of an (rows, classes) probability matrix."""
    p = _normalised(proba)
    if p.shape[1] < 2:
        return np.zeros(len(p))
    if strategy == "least_confidence":
        return 1.0 - p.max(axis=1)
    if strategy == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    if strategy == "entropy":
        return -(p * np.log(p + _EPS)).sum(axis=1) / np.log(p.shape[1])
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")


def binary_scores(p: np.ndarray, strategy: Strategy) -> np.ndarray:
    """``multiclass_scores`` of each two-class distribution ``(p, 1 − p)``, element-wise."""
    q = 1.0 - p
    if strategy == "least_confidence":
        return 1.0 - np.maximum(p, q)
    if strategy == "margin":
        return 1.0 - np.abs(p - q)
    if strategy == "entropy":
        return -(p * np.log(p + _EPS) + q * np.log(q + _EPS)) / np.log(2.0)
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")


def multilabel_scores(proba: np.ndarray, strategy: Strategy, aggregate: Aggregate = "mean") -> np.ndarray:
    """Per-label binary uncertainty, aggregated over labels (one array operation, not a loop per label)."""
    p = np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    per_label = binary_scores(p, strategy) if p.shape[1] else np.zeros((len(p), 1))
    if aggregate == "mean":
        return per_label.mean(axis=1)
    if aggregate == "max":
        return per_label.max(axis=1)
    raise ValueError(f"unknown aggregate {aggregate!r}; choose mean or max")


def select(scores: np.ndarray, budget: int) -> np.ndarray:
    """Indices of the ``budget`` most uncertain rows, most uncertain first (ties: earlier row first)."""
    if budget <= 0 or len(scores) == 0:
        return np.array([], dtype=int)
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
    return order[:budget]

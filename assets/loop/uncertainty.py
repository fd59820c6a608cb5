"""Uncertainty sampling: which scored records are worth a person's time.

Scores are "higher = more uncertain" so that the annotation queue can order by one number:

``least_confidence``  1 - max class probability (multi-class).
``margin``            1 - (top probability - second probability): a near tie between two classes.
``entropy``           Shannon entropy of the class distribution, divided by log(classes) to lie in [0, 1].
``random``            a uniform draw per record, seeded by the batch (see :func:`random_scores`): where
                      the label-efficiency benchmark finds uncertainty no better than chance (disaster),
                      the loop asks for random records.

Besides the strategy's picks, each batch sends an *audit* share of its budget chosen uniformly at
random (:func:`audit_indices`). Those labels are the unbiased sample the live quality of a champion
is measured on: uncertainty picks are by construction the records the model is least sure of.

Multi-label models give each label an independent probability, so each label is a binary question
whose uncertainty is computed as above on ``(p, 1 - p)`` and then aggregated across labels
(``mean`` by default: a message unsure about many labels beats one unsure about a single label;
``max`` picks the single most doubtful decision).
"""

from __future__ import annotations

import zlib
from typing import Literal

import numpy as np

Strategy = Literal["least_confidence", "margin", "entropy", "random"]
Aggregate = Literal["mean", "max"]
STRATEGIES: tuple[str, ...] = ("least_confidence", "margin", "entropy", "random")
#: The strategy name audit picks are queued under.
AUDIT = "audit"
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


def _rng(seed_key: str, salt: str) -> np.random.Generator:
    """A generator fixed by the batch's key, so a re-run of a batch picks the same records."""
    return np.random.default_rng(zlib.crc32(f"{salt}:{seed_key}".encode()))


def random_scores(rows: int, seed_key: str) -> np.ndarray:
    """The ``random`` strategy's scores: uniform in [0, 1), the same for the same batch every time."""
    return _rng(seed_key, "random").random(rows)


def audit_count(budget: int, share: float) -> int:
    """How many of a batch's ``budget`` picks are audit picks (at least one when the share is positive)."""
    if budget <= 0 or share <= 0:
        return 0
    return min(budget, max(1, round(budget * share)))


def audit_indices(rows: int, exclude: np.ndarray, count: int, seed_key: str) -> np.ndarray:
    """``count`` rows drawn uniformly without replacement from those not in ``exclude``.

    Every record the strategy did not pick has the same chance, so the labels of these rows estimate
    the champion's quality on the whole stream (up to the few the strategy took first)."""
    pool = np.setdiff1d(np.arange(rows), np.asarray(exclude, dtype=int))
    if count <= 0 or not len(pool):
        return np.array([], dtype=int)
    return np.sort(_rng(seed_key, AUDIT).choice(pool, size=min(count, len(pool)), replace=False))

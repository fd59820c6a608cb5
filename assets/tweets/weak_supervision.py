"""Weak supervision of AI tweets: the shared machinery (:mod:`assets.labeling.weak_supervision`) over
the tweet LFs (plus the clustering LF fitted per data set), two classes, OTHER and AI.

What is particular to tweets: the label space (classes ``0``/``1``, reported as ``other``/``ai``, the
AI class's precision, recall and F1 only); ties and silence go to OTHER in the majority baseline (on
about 8 % AI tweets, the most likely class); LFs read ``text`` only; and the weak label frame carries
``ai_probability`` (P(AI), what the tweet trainers learn from) beside ``label`` (the integer class).

Snorkel's model module imports torch (seconds), so it is imported inside the functions that need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from snorkel.labeling import LabelingFunction

from assets.labeling import weak_supervision as shared
from assets.labeling.weak_supervision import (
    SUMMARY_COLUMNS,
    LabelSpace,
    WeakSupervision,
    check_lfs,
    label_model_proba,
    lf_summary,
)
from assets.trainers.targets import LF_VOTES
from assets.tweets.labeling_functions import ABSTAIN, AI, OTHER, RULE_LFS, make_cluster_lf

__all__ = [
    "SPACE",
    "SUMMARY_COLUMNS",
    "WeakSupervision",
    "apply_lfs",
    "check_lfs",
    "class_balance",
    "compare_to_majority",
    "fit_label_model",
    "label_model_proba",
    "lf_summary",
    "majority_vote",
    "run_weak_supervision",
    "scores",
    "weak_label_frame",
]

SPACE = LabelSpace(classes=(str(OTHER), str(AI)), names=("other", "ai"), fallback=OTHER, focus=(AI,))
#: The only record column the tweet LFs read.
LF_COLUMNS: tuple[str, ...] = ("text",)


def apply_lfs(lfs: Sequence[LabelingFunction], frame: pd.DataFrame) -> np.ndarray:
    """The label matrix (rows × LFs; -1 = abstain) of ``frame`` (needs a ``text`` column)."""
    return shared.apply_lfs(lfs, frame, LF_COLUMNS)


def class_balance(labels: Sequence[int], smoothing: float = 1.0) -> np.ndarray:
    """[P(OTHER), P(AI)] from hand labels, Laplace-smoothed so a class never gets probability 0."""
    return shared.class_balance(labels, SPACE.cardinality, smoothing)


def fit_label_model(
    L: np.ndarray, balance: Sequence[float] | None = None, seed: int = 0, n_epochs: int = 500
) -> Any:
    """Snorkel's LabelModel (cardinality 2) fitted on the unlabelled label matrix ``L``."""
    return shared.fit_label_model(L, SPACE.cardinality, balance, seed=seed, n_epochs=n_epochs)


def majority_vote(L: np.ndarray) -> np.ndarray:
    """Snorkel's MajorityLabelVoter; ties and rows nobody voted on become OTHER (see module doc)."""
    return shared.majority_vote(L, SPACE)


def scores(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """Accuracy and the AI class's precision, recall and F1 (the primary metric)."""
    return shared.scores(y_true, y_pred, SPACE)


def compare_to_majority(model: Any, L: np.ndarray, y: Sequence[int], split: str = "dev") -> pd.DataFrame:
    """Label model vs majority vote and the all-OTHER and all-AI baselines on hand-labelled rows (see
    :func:`assets.labeling.weak_supervision.compare_to_majority`)."""
    return shared.compare_to_majority(model, L, y, SPACE, split)


def weak_label_frame(unlabelled: pd.DataFrame, L: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """``unlabelled`` with ``label`` (the label model's argmax), ``ai_probability`` (its P(AI): what
    the noise-aware trainers learn from) and ``lf_votes`` (how many LFs voted; 0 = the prior alone)."""
    return unlabelled.reset_index(drop=True).assign(
        label=probabilities.argmax(axis=1).astype("int64") if len(probabilities) else np.empty(0, "int64"),
        ai_probability=probabilities[:, AI] if len(probabilities) else np.empty(0),
        **{LF_VOTES: (L != ABSTAIN).sum(axis=1).astype("int64")},
    )


def run_weak_supervision(
    unlabelled: pd.DataFrame,
    dev: pd.DataFrame,
    lfs: Sequence[LabelingFunction] | None = None,
    seed: int = 0,
    with_cluster_lf: bool = True,
    n_epochs: int = 500,
) -> WeakSupervision:
    """The whole step: rule LFs (plus the clustering LF fitted on ``unlabelled`` + dev texts), applied
    to ``unlabelled`` (the LF set and train) and dev; LFAnalysis; the label model fitted on the
    unlabelled matrix with the dev class balance; the comparison with majority vote on dev."""
    chosen = list(lfs if lfs is not None else RULE_LFS)
    if with_cluster_lf:
        chosen.append(make_cluster_lf(list(unlabelled["text"]), list(dev["text"]), list(dev["label"]), seed))
    result = shared.run_weak_supervision(
        unlabelled,
        dev,
        chosen,
        SPACE,
        label_column="label",
        seed=seed,
        n_epochs=n_epochs,
        lf_columns=LF_COLUMNS,
    )
    return replace(result, weak_labels=weak_label_frame(unlabelled, result.L, result.probabilities))

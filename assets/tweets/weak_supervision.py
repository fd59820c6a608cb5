"""From labeling functions to probabilistic labels: apply, analyse, fit Snorkel's LabelModel, and
check it against a plain majority vote on hand labels.

Two choices matter on this data (about 8 % AI tweets):

- the label model gets the class balance of the dev hand labels (smoothed): Snorkel's default is a
  uniform prior, which on a 92/8 split turns every lone AI vote into an AI label;
- a tweet nobody votes on, or a tied vote, is OTHER for the majority baseline (its most likely class):
  the baseline is the strongest simple rule, not a straw man left to abstain.

Snorkel's model module imports torch (seconds), so it is imported inside the functions that need it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from snorkel.labeling import LabelingFunction, LFAnalysis, PandasLFApplier

from assets.tweets.labeling_functions import ABSTAIN, AI, OTHER, RULE_LFS, make_cluster_lf

SUMMARY_COLUMNS: tuple[str, ...] = (
    "lf",
    "polarity",
    "coverage",
    "overlaps",
    "conflicts",
    "dev_coverage",
    "dev_correct",
    "dev_incorrect",
    "dev_accuracy",
    "dev_class_rate",
)


def apply_lfs(lfs: Sequence[LabelingFunction], frame: pd.DataFrame) -> np.ndarray:
    """The label matrix (rows × LFs; -1 = abstain) of ``frame`` (needs a ``text`` column)."""
    if not len(frame):
        return np.empty((0, len(lfs)), dtype=int)
    return PandasLFApplier(lfs=list(lfs)).apply(frame[["text"]], progress_bar=False)


def _polarity(values: np.ndarray) -> str:
    voted = sorted(int(v) for v in np.unique(values) if v != ABSTAIN)
    return ",".join(str(v) for v in voted)


def lf_summary(
    lfs: Sequence[LabelingFunction],
    L: np.ndarray,
    L_dev: np.ndarray | None = None,
    y_dev: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Snorkel's LFAnalysis as one table, one row per LF: polarity, coverage, overlaps and conflicts on
    the unlabelled matrix ``L``, and on dev its coverage, correct / incorrect votes and empirical
    accuracy. ``dev_class_rate`` is how common the class an LF votes for is on dev: an LF is only
    informative when its accuracy beats that rate (a single-polarity LF; NaN for mixed ones)."""
    analysis = LFAnalysis(L=L, lfs=list(lfs)) if len(L) else None
    with warnings.catch_warnings():  # scipy's dtype FutureWarning from inside Snorkel's analysis
        warnings.simplefilter("ignore", FutureWarning)
        summary = pd.DataFrame(
            {
                "lf": [lf.name for lf in lfs],
                "polarity": [_polarity(L[:, j]) if len(L) else "" for j in range(len(lfs))],
                "coverage": analysis.lf_coverages() if analysis else np.zeros(len(lfs)),
                "overlaps": analysis.lf_overlaps() if analysis else np.zeros(len(lfs)),
                "conflicts": analysis.lf_conflicts() if analysis else np.zeros(len(lfs)),
            }
        )
    if L_dev is None or y_dev is None or not len(L_dev):
        return summary.reindex(columns=list(SUMMARY_COLUMNS))
    y = np.asarray(y_dev, dtype=int)
    voted = L_dev != ABSTAIN
    correct = (voted & (L_dev == y[:, None])).sum(axis=0)
    incorrect = (voted & (L_dev != y[:, None])).sum(axis=0)
    dev_polarity = [_polarity(L_dev[:, j]) or summary.at[j, "polarity"] for j in range(len(lfs))]
    summary["dev_coverage"] = voted.mean(axis=0)
    summary["dev_correct"] = correct
    summary["dev_incorrect"] = incorrect
    summary["dev_accuracy"] = np.where(
        voted.sum(axis=0) > 0, correct / np.maximum(voted.sum(axis=0), 1), np.nan
    )
    summary["dev_class_rate"] = [
        float((y == int(p)).mean()) if p in ("0", "1") else np.nan for p in dev_polarity
    ]
    return summary.reindex(columns=list(SUMMARY_COLUMNS))


def check_lfs(summary: pd.DataFrame, min_coverage: float = 0.0, min_accuracy: float = 0.0) -> list[str]:
    """What is wrong with the LFs, one sentence each (empty: all good): every LF must cover more than
    ``min_coverage`` of the unlabelled rows, and on dev reach ``min_accuracy`` and beat the rate of the
    class it votes for (else it votes no better than a coin weighted by the class balance)."""
    problems = []
    for row in summary.itertuples(index=False):
        if not row.coverage > min_coverage:
            problems.append(f"{row.lf}: coverage {row.coverage:.3f} <= {min_coverage}")
        if "dev_accuracy" not in summary.columns or pd.isna(row.dev_accuracy):
            problems.append(f"{row.lf}: no vote on dev, accuracy unknown")
            continue
        if row.dev_accuracy < min_accuracy:
            problems.append(f"{row.lf}: dev accuracy {row.dev_accuracy:.3f} < {min_accuracy}")
        if not pd.isna(row.dev_class_rate) and row.dev_accuracy <= row.dev_class_rate:
            problems.append(
                f"{row.lf}: dev accuracy {row.dev_accuracy:.3f} <= rate of its class {row.dev_class_rate:.3f}"
            )
    return problems


def class_balance(labels: Sequence[int], smoothing: float = 1.0) -> np.ndarray:
    """[P(OTHER), P(AI)] from hand labels, Laplace-smoothed so a class never gets probability 0."""
    y = np.asarray(labels, dtype=int)
    counts = np.array([(y == OTHER).sum(), (y == AI).sum()], dtype=float) + smoothing
    return counts / counts.sum()


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """The label model has a few dozen parameters: torch's intra-op threads only add synchronisation,
    and on a busy machine their spinning made 500 epochs take 20 s instead of 1.5 s (measured)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_label_model(
    L: np.ndarray, balance: Sequence[float] | None = None, seed: int = 0, n_epochs: int = 500
) -> Any:
    """Snorkel's LabelModel (cardinality 2) fitted on the unlabelled label matrix ``L``."""
    from snorkel.labeling.model import LabelModel

    model = LabelModel(cardinality=2, verbose=False)
    with _one_torch_thread():
        model.fit(
            L_train=L,
            class_balance=None if balance is None else np.asarray(balance, dtype=float),
            n_epochs=n_epochs,
            lr=0.01,
            l2=0.0,
            seed=seed,
            progress_bar=False,
        )
    return model


def label_model_proba(model: Any, L: np.ndarray) -> np.ndarray:
    """(rows, 2) probabilities [P(OTHER), P(AI)]; a row no LF voted on gets the class balance."""
    if not len(L):
        return np.empty((0, 2))
    with _one_torch_thread():
        return model.predict_proba(L)


def majority_vote(L: np.ndarray) -> np.ndarray:
    """Snorkel's MajorityLabelVoter; ties and rows nobody voted on become OTHER (see module doc)."""
    from snorkel.labeling.model import MajorityLabelVoter

    if not len(L):
        return np.empty(0, dtype=int)
    predicted = MajorityLabelVoter(cardinality=2).predict(L, tie_break_policy="abstain")
    return np.where(predicted == ABSTAIN, OTHER, predicted).astype(int)


def scores(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """Accuracy and the AI class's precision, recall and F1 (the primary metric)."""
    kwargs = {"pos_label": AI, "zero_division": 0}
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "ai_precision": float(precision_score(y_true, y_pred, **kwargs)),
        "ai_recall": float(recall_score(y_true, y_pred, **kwargs)),
        "ai_f1": float(f1_score(y_true, y_pred, **kwargs)),
    }


def compare_to_majority(model: Any, L: np.ndarray, y: Sequence[int], split: str = "dev") -> pd.DataFrame:
    """Label model vs majority vote (and the all-OTHER and all-AI baselines) on hand-labelled rows:
    one row per method with accuracy and AI precision / recall / F1. Also, per split: ``lf_coverage``
    (rows some LF voted on), ``lf_conflict`` (rows with votes for both classes: the only rows where
    weighting LFs can overturn a majority) and per method ``differs_from_majority`` (rows decided
    otherwise than by the majority vote)."""
    y = np.asarray(y, dtype=int)
    majority = majority_vote(L)
    predictions = {
        "label_model": label_model_proba(model, L).argmax(axis=1),
        "majority_vote": majority,
        "all_other": np.full(len(y), OTHER),
        "all_ai": np.full(len(y), AI),
    }
    voted = L != ABSTAIN
    covered = float(voted.any(axis=1).mean()) if len(L) else 0.0
    conflict = float(((L == AI).any(axis=1) & (L == OTHER).any(axis=1)).mean()) if len(L) else 0.0
    return pd.DataFrame(
        [
            {
                "split": split,
                "method": name,
                "rows": len(y),
                "lf_coverage": covered,
                "lf_conflict": conflict,
                "differs_from_majority": int((pred != majority).sum()),
                **scores(y, pred),
            }
            for name, pred in predictions.items()
        ]
    )


def weak_label_frame(unlabelled: pd.DataFrame, L: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """``unlabelled`` with ``label`` (the label model's argmax), ``ai_probability`` (its P(AI): what
    the noise-aware trainers learn from) and ``lf_votes`` (how many LFs voted; 0 = the prior alone)."""
    return unlabelled.reset_index(drop=True).assign(
        label=probabilities.argmax(axis=1).astype("int64") if len(probabilities) else np.empty(0, "int64"),
        ai_probability=probabilities[:, AI] if len(probabilities) else np.empty(0),
        lf_votes=(L != ABSTAIN).sum(axis=1).astype("int64"),
    )


@dataclass
class WeakSupervision:
    """Everything the weak-label assets report: the LFs used (the clustering LF included), their
    summary, the fitted label model, its comparison with majority vote on dev, the unlabelled label
    matrix, and the weakly labelled rows (:func:`weak_label_frame`)."""

    lfs: list[LabelingFunction]
    summary: pd.DataFrame
    label_model: Any
    comparison: pd.DataFrame
    L: np.ndarray
    weak_labels: pd.DataFrame

    def compare(self, labelled: pd.DataFrame, split: str) -> pd.DataFrame:
        """:func:`compare_to_majority` on another hand-labelled set (the frozen test set)."""
        return compare_to_majority(self.label_model, apply_lfs(self.lfs, labelled), labelled["label"], split)


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
    L = apply_lfs(chosen, unlabelled)
    L_dev = apply_lfs(chosen, dev)
    model = fit_label_model(L, class_balance(dev["label"]), seed=seed, n_epochs=n_epochs)
    return WeakSupervision(
        lfs=chosen,
        summary=lf_summary(chosen, L, L_dev, dev["label"]),
        label_model=model,
        comparison=compare_to_majority(model, L_dev, dev["label"], split="dev"),
        L=L,
        weak_labels=weak_label_frame(unlabelled, L, label_model_proba(model, L)),
    )

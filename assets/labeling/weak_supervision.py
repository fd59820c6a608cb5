"""From labeling functions to probabilistic labels, for any label space: apply the LFs, analyse them,
fit Snorkel's LabelModel, check it against a plain majority vote on hand labels, and hand the
trainers a weakly labelled frame.

A label space is ``k`` classes (:class:`LabelSpace`): an LF returns the position of a class
(``0 .. k-1``) or :data:`ABSTAIN` (-1). Hand labels (dev, test) are class names, or values whose text
is one (``1`` is class ``"1"``), in a label column. Two choices matter on skewed data:

- the label model gets the class balance of the dev hand labels (smoothed): Snorkel's default is a
  uniform prior, which on a 92/8 split turns every lone vote for the rare class into its label;
- ties and rows nobody votes on go to a fallback class (the most likely one) in the majority
  baseline: the baseline is the strongest simple rule, not a straw man left to abstain.

For a new use case, :func:`weak_labels` is the whole step in one call. Snorkel's model module imports
torch (seconds), so it is imported inside the functions that need it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from snorkel.labeling import LabelingFunction, LFAnalysis, PandasLFApplier

from assets.trainers.targets import LF_VOTES, class_indices, soft_column

ABSTAIN = -1
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


@dataclass(frozen=True)
class LabelSpace:
    """The classes LFs vote for, by position (``classes[j]`` is vote ``j``), as the training table
    names them. ``names``: what comparisons call each class (``ai_f1``, ``all_ai``; default the class
    itself); ``fallback``: the class a majority vote gives ties and silence; ``focus``: the classes
    whose precision, recall and F1 comparisons report (default all)."""

    classes: tuple[str, ...]
    names: tuple[str, ...] = ()
    fallback: int = 0
    focus: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.classes) < 2:
            raise ValueError(f"a label space needs two classes at least, not {list(self.classes)}")
        if self.names and len(self.names) != len(self.classes):
            raise ValueError("names must name every class")

    @property
    def cardinality(self) -> int:
        return len(self.classes)

    def name(self, j: int) -> str:
        return (self.names or self.classes)[j]

    def indices(self, labels: Sequence[object] | pd.Series) -> np.ndarray:
        """Hand labels (class names) as vote positions."""
        return class_indices(labels, self.classes)


# -- applying and analysing LFs ----------------------------------------------------------------------
def apply_lfs(
    lfs: Sequence[LabelingFunction], frame: pd.DataFrame, columns: Sequence[str] | None = None
) -> np.ndarray:
    """The label matrix (rows × LFs; -1 = abstain) of ``frame``. ``columns``: what the LFs read (the
    applier builds a row per record, so fewer columns are faster); None: every column."""
    if not len(frame):
        return np.empty((0, len(lfs)), dtype=int)
    points = frame[list(columns)] if columns is not None else frame
    return PandasLFApplier(lfs=list(lfs)).apply(points, progress_bar=False)


def _polarity(values: np.ndarray) -> str:
    voted = sorted(int(v) for v in np.unique(values) if v != ABSTAIN)
    return ",".join(str(v) for v in voted)


def _single_class(polarity: str) -> int | None:
    """The class an LF of one polarity votes for (None: it votes for several, or never)."""
    return int(polarity) if polarity and "," not in polarity else None


def lf_summary(
    lfs: Sequence[LabelingFunction],
    L: np.ndarray,
    L_dev: np.ndarray | None = None,
    y_dev: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Snorkel's LFAnalysis as one table, one row per LF: polarity, coverage, overlaps and conflicts on
    the unlabelled matrix ``L``, and on dev (``y_dev``: class positions) its coverage, correct /
    incorrect votes and empirical accuracy. ``dev_class_rate`` is how common the class an LF votes for
    is on dev: an LF is only informative when its accuracy beats that rate (a single-polarity LF; NaN
    for mixed ones)."""
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
    single = [_single_class(p) for p in dev_polarity]
    summary["dev_class_rate"] = [float((y == c).mean()) if c is not None else np.nan for c in single]
    return summary.reindex(columns=list(SUMMARY_COLUMNS))


def check_lfs(summary: pd.DataFrame, min_coverage: float = 0.0, min_accuracy: float = 0.0) -> list[str]:
    """What is wrong with the LFs, one sentence each (empty: all good; the blocking asset check): every
    LF must cover more than ``min_coverage`` of the unlabelled rows, and on dev reach ``min_accuracy``
    and beat the rate of the class it votes for (else it votes no better than a coin weighted by the
    class balance)."""
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


# -- the label model -----------------------------------------------------------------------------------
def class_balance(labels: Sequence[int], cardinality: int, smoothing: float = 1.0) -> np.ndarray:
    """P(class) from hand labels (class positions), Laplace-smoothed so a class never gets 0."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=cardinality).astype(float) + smoothing
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
    L: np.ndarray,
    cardinality: int,
    balance: Sequence[float] | None = None,
    seed: int = 0,
    n_epochs: int = 500,
) -> Any:
    """Snorkel's LabelModel fitted on the unlabelled label matrix ``L`` (``balance``: P(class); None:
    Snorkel's uniform prior)."""
    from snorkel.labeling.model import LabelModel

    model = LabelModel(cardinality=cardinality, verbose=False)
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
    """(rows, k) class probabilities; a row no LF voted on gets the class balance."""
    if not len(L):
        return np.empty((0, model.cardinality))
    with _one_torch_thread():
        return model.predict_proba(L)


def majority_vote(L: np.ndarray, space: LabelSpace) -> np.ndarray:
    """Snorkel's MajorityLabelVoter; ties and rows nobody voted on become ``space.fallback``."""
    from snorkel.labeling.model import MajorityLabelVoter

    if not len(L):
        return np.empty(0, dtype=int)
    predicted = MajorityLabelVoter(cardinality=space.cardinality).predict(L, tie_break_policy="abstain")
    return np.where(predicted == ABSTAIN, space.fallback, predicted).astype(int)


# -- comparisons on hand labels --------------------------------------------------------------------------
def scores(y_true: Sequence[int], y_pred: Sequence[int], space: LabelSpace) -> dict[str, float]:
    """Accuracy, and precision, recall and F1 of each focus class (``<name>_precision``...)."""
    focus = list(space.focus if space.focus is not None else range(space.cardinality))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=focus, average=None, zero_division=0
    )
    result = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for i, j in enumerate(focus):
        name = space.name(j)
        result.update(
            {
                f"{name}_precision": float(precision[i]),
                f"{name}_recall": float(recall[i]),
                f"{name}_f1": float(f1[i]),
            }
        )
    return result


def compare_to_majority(
    model: Any, L: np.ndarray, y: Sequence[int], space: LabelSpace, split: str = "dev"
) -> pd.DataFrame:
    """Label model vs majority vote (and one constant baseline per class, ``all_<name>``) on
    hand-labelled rows (``y``: class positions): one row per method with :func:`scores`. Also, per
    split: ``lf_coverage`` (rows some LF voted on), ``lf_conflict`` (rows with votes for two classes
    or more: the only rows where weighting LFs can overturn a majority) and per method
    ``differs_from_majority`` (rows decided otherwise than by the majority vote)."""
    y = np.asarray(y, dtype=int)
    majority = majority_vote(L, space)
    predictions = {
        "label_model": label_model_proba(model, L).argmax(axis=1),
        "majority_vote": majority,
        **{f"all_{space.name(j)}": np.full(len(y), j) for j in range(space.cardinality)},
    }
    voted = L != ABSTAIN
    covered = float(voted.any(axis=1).mean()) if len(L) else 0.0
    classes_voted = sum(np.equal(L, j).any(axis=1).astype(int) for j in range(space.cardinality))
    conflict = float((classes_voted >= 2).mean()) if len(L) else 0.0
    return pd.DataFrame(
        [
            {
                "split": split,
                "method": name,
                "rows": len(y),
                "lf_coverage": covered,
                "lf_conflict": conflict,
                "differs_from_majority": int((pred != majority).sum()),
                **scores(y, pred, space),
            }
            for name, pred in predictions.items()
        ]
    )


# -- the whole step ----------------------------------------------------------------------------------------
def weak_label_frame(
    unlabelled: pd.DataFrame,
    L: np.ndarray,
    probabilities: np.ndarray,
    classes: Sequence[str],
    label_column: str = "label",
) -> pd.DataFrame:
    """``unlabelled`` (index reset) with ``label_column`` (the label model's most probable class, by
    name), ``p_<class>`` for each class (its probabilities: the soft targets the text trainers learn
    from, see :mod:`assets.trainers.targets`) and ``lf_votes`` (how many LFs voted; 0 = the prior
    alone)."""
    probabilities = probabilities.reshape(len(unlabelled), len(classes))
    columns = {label_column: np.asarray(list(classes), dtype=object)[probabilities.argmax(axis=1)]}
    for j, name in enumerate(classes):
        columns[soft_column(name)] = probabilities[:, j]
    columns[LF_VOTES] = (L != ABSTAIN).sum(axis=1).astype("int64")
    return unlabelled.reset_index(drop=True).assign(**columns)


@dataclass
class WeakSupervision:
    """Everything a weak-label asset reports: the LFs, their summary, the fitted label model, its
    comparison with majority vote on dev (empty without dev), the unlabelled label matrix, the label
    model's probabilities on it and the weakly labelled rows (:func:`weak_label_frame` unless the
    caller shapes its own)."""

    lfs: list[LabelingFunction]
    summary: pd.DataFrame
    label_model: Any
    comparison: pd.DataFrame
    L: np.ndarray
    probabilities: np.ndarray
    weak_labels: pd.DataFrame
    space: LabelSpace
    label_column: str = "label"
    lf_columns: tuple[str, ...] | None = None

    def compare(self, labelled: pd.DataFrame, split: str) -> pd.DataFrame:
        """:func:`compare_to_majority` on another hand-labelled set (the frozen test set)."""
        L = apply_lfs(self.lfs, labelled, self.lf_columns)
        return compare_to_majority(
            self.label_model, L, self.space.indices(labelled[self.label_column]), self.space, split
        )


def run_weak_supervision(
    unlabelled: pd.DataFrame,
    dev: pd.DataFrame | None,
    lfs: Sequence[LabelingFunction],
    space: LabelSpace,
    label_column: str = "label",
    seed: int = 0,
    n_epochs: int = 500,
    lf_columns: Sequence[str] | None = None,
) -> WeakSupervision:
    """The whole step: ``lfs`` applied to ``unlabelled`` and dev; LFAnalysis; the label model fitted
    on the unlabelled matrix with the dev class balance; the comparison with majority vote on dev.
    Without dev (None or empty) there is no accuracy, no comparison and a uniform prior."""
    chosen = list(lfs)
    columns = tuple(lf_columns) if lf_columns is not None else None
    L = apply_lfs(chosen, unlabelled, columns)
    has_dev = dev is not None and len(dev) > 0
    L_dev = apply_lfs(chosen, dev, columns) if has_dev else None
    y_dev = space.indices(dev[label_column]) if has_dev else None
    balance = class_balance(y_dev, space.cardinality) if has_dev else None
    model = fit_label_model(L, space.cardinality, balance, seed=seed, n_epochs=n_epochs)
    probabilities = label_model_proba(model, L)
    return WeakSupervision(
        lfs=chosen,
        summary=lf_summary(chosen, L, L_dev, y_dev),
        label_model=model,
        comparison=compare_to_majority(model, L_dev, y_dev, space) if has_dev else pd.DataFrame(),
        L=L,
        probabilities=probabilities,
        weak_labels=weak_label_frame(unlabelled, L, probabilities, space.classes, label_column),
        space=space,
        label_column=label_column,
        lf_columns=columns,
    )


def weak_labels(
    unlabelled: pd.DataFrame,
    lfs: Sequence[LabelingFunction],
    classes: Sequence[str],
    dev: pd.DataFrame | None = None,
    label_column: str = "label",
    seed: int = 0,
    n_epochs: int = 500,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weak supervision in one call, for a new use case. Returns ``(frame, summary)``.

    In: ``unlabelled`` rows (any columns; each LF gets a row as a pandas Series and reads what it
    needs, e.g. ``x.text``); ``lfs``, Snorkel ``LabelingFunction`` s returning a class position
    (``classes[j]`` is vote ``j``) or -1 to abstain; ``classes``, the class names as the training table
    holds them; ``dev``, hand-labelled rows with ``label_column`` (class names) to measure the LFs on
    and to give the label model its class balance (None: a uniform prior and no accuracies, so
    :func:`check_lfs` reports every LF as unmeasured).

    Out ``frame``: ``unlabelled`` with a fresh 0..n-1 index and ``label_column`` (the most probable
    class by name), ``p_<class>`` per class (the label model's probabilities, summing to 1: the soft
    targets :mod:`assets.trainers.text` learns from without further configuration) and ``lf_votes``
    (how many LFs voted; 0 = only the prior spoke, which the confident trainers drop). Append hand
    labelled rows with their label and NaN soft columns: they count as certain. ``summary``: one row
    per LF with :data:`SUMMARY_COLUMNS`; feed it to :func:`check_lfs` for the blocking asset check.
    """
    names = tuple(str(c) for c in classes)
    fallback = 0  # the majority baseline's class for ties and silence: the most common on dev
    if dev is not None and len(dev):
        fallback = int(np.argmax(np.bincount(class_indices(dev[label_column], names), minlength=len(names))))
    space = LabelSpace(names, fallback=fallback)
    result = run_weak_supervision(unlabelled, dev, lfs, space, label_column, seed, n_epochs)
    return result.weak_labels, result.summary

"""What a training frame says about its labels: hard class labels, and soft targets beside them.

The contract between weak supervision (:mod:`assets.labeling.weak_supervision`) and the trainers, so
it imports NumPy and pandas only:

- a multi-class frame has a hard label column (class names, or values whose text is a class name:
  ``1`` is class ``"1"``);
- it may also carry soft targets, one column of P(class) per class (:func:`soft_column` names them
  ``p_<class>``, or a use case maps classes to its own columns). One class may be left without a
  column: it gets what the others leave. A row whose soft columns are empty (NaN: a hand-labelled row
  beside weak ones) is certain of its hard label;
- ``lf_votes`` (:data:`LF_VOTES`) counts the labeling functions that voted on a row (0: only the prior
  spoke), for trainers that drop rows nobody voted on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

LF_VOTES = "lf_votes"
SOFT_PREFIX = "p_"


def soft_column(class_name: str) -> str:
    """The default column of P(``class_name``) in a training frame."""
    return f"{SOFT_PREFIX}{class_name}"


def _class_text(value: object) -> str:
    """A label value as the class name it stands for: integral numbers lose their ``.0``."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def class_indices(values: Sequence[object] | pd.Series, classes: Sequence[str]) -> np.ndarray:
    """Each label's position in ``classes``. Raises ``ValueError`` naming any value that is no class
    (a missing label included): a trainer must not guess what an unknown label means."""
    position = {name: j for j, name in enumerate(classes)}
    names = [_class_text(v) for v in pd.Series(values, dtype=object)]
    unknown = sorted({n for n in names if n not in position})
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not among the classes {list(classes)}")
    return np.array([position[n] for n in names], dtype=np.int64)


def one_hot(indices: np.ndarray, cardinality: int) -> np.ndarray:
    """(rows, cardinality) float matrix with a 1 at each row's class."""
    matrix = np.zeros((len(indices), cardinality))
    matrix[np.arange(len(indices)), indices] = 1.0
    return matrix


def _hard_targets(
    frame: pd.DataFrame, classes: Sequence[str], label_column: str, rows: np.ndarray
) -> np.ndarray:
    """One-hot hard labels of ``rows`` (the others stay 0): only the rows that need them are checked."""
    matrix = np.zeros((len(frame), len(classes)))
    if rows.any():
        matrix[rows] = one_hot(class_indices(frame[label_column].to_numpy()[rows], classes), len(classes))
    return matrix


def soft_targets(
    frame: pd.DataFrame,
    classes: Sequence[str],
    label_column: str = "label",
    columns: Mapping[str, str] | None = None,
) -> np.ndarray:
    """(rows, classes) probabilities each row is of each class, from its soft columns where it has them,
    else from its hard label (see the module doc). ``columns`` maps a class to its column (default
    :func:`soft_column` of every class); columns absent from the frame are ignored, and a frame with
    none of them is hard-labelled. Raises ``ValueError`` when more than one class lacks a column."""
    wanted = dict(columns) if columns else {c: soft_column(c) for c in classes}
    present = {c: col for c, col in wanted.items() if c in classes and col in frame.columns}
    if not present:
        return _hard_targets(frame, classes, label_column, np.ones(len(frame), dtype=bool))
    missing = [j for j, c in enumerate(classes) if c not in present]
    if len(missing) > 1:
        raise ValueError(
            f"soft targets need a column per class but one; none for {[classes[j] for j in missing]}"
        )
    given = [classes.index(c) for c in present]
    soft = np.column_stack(
        [pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float) for col in present.values()]
    )
    unknown = np.isnan(soft).any(axis=1)
    targets = np.zeros((len(frame), len(classes)))
    targets[:, given] = np.clip(soft, 0.0, 1.0)
    if missing:
        targets[:, missing[0]] = np.clip(1.0 - targets[:, given].sum(axis=1), 0.0, 1.0)
    targets[unknown] = _hard_targets(frame, classes, label_column, unknown)[unknown]
    return targets


def hard_labels(targets: np.ndarray) -> np.ndarray:
    """Each row's most probable class; a tie goes to the later class, so that a binary row is positive
    at P(positive) >= 0.5, the usual cut."""
    if not len(targets):
        return np.empty(0, dtype=np.int64)
    return (targets.shape[1] - 1 - np.argmax(targets[:, ::-1], axis=1)).astype(np.int64)

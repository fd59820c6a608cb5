"""How right is each champion version on the stream it scores? Plain functions, no Dagster.

Every label people give for a scored record is compared with what the scoring version predicted
(its queued suggestion). The headline metric of a version is computed on **audit labels only**: the
share of each batch's annotation budget drawn uniformly at random (``assets.loop.uncertainty``), and
resolved outcomes where a use case has them (sparkify: every scored user's cancellation or not).
Uncertainty picks are the records the model is least sure of, so their error rate overstates the
stream's; importance weighting cannot repair that, because a top-k pick gives a confident record
probability zero (no weight exists for it). The audit share is an unbiased sample by construction,
at the cost of its labels. The metric over every label is reported beside it, as biased.

The metric is the use case's primary holdout metric, computed the same way (``weighted_f2`` with
the multi-label threshold decisions the version made, ``f1_<class>`` and the like for multi-class),
with a percentile bootstrap interval, per version overall, per day and per window of 100 labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

AUDIT = "audit"
#: Labels from resolved outcomes (sparkify's cancellations): every scored user resolves, so they are
#: no sample and carry no selection bias either.
OUTCOME = "outcome"
UNBIASED = (AUDIT, OUTCOME)
WINDOW = 100
RESAMPLES = 200


@dataclass(frozen=True)
class MetricSpace:
    """What a metric needs to know of the use case: its task, class (or label) names and metric."""

    task: str  # "multiclass" or "multilabel"
    labels: tuple[str, ...]
    primary: str
    #: The use case's ``extra_metrics`` (``(frame, predictions, labels) -> {name: value}``), for a
    #: primary metric that needs probabilities (sparkify's PR AUC); ``label_column`` names the truth.
    extra_metrics: Callable[[pd.DataFrame, pd.DataFrame, list[str]], dict[str, float]] | None = None
    label_column: str = "label"


def label_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per label (from ``AnnotationStore.scored_labels``): who predicted what, and the truth."""
    columns = ["label_id", "sample_id", "created_at", "strategy", "model_version", "label", "prediction"]
    records = [
        {
            "label_id": int(r["id"]),
            "sample_id": str(r["sample_id"]),
            "created_at": pd.Timestamp(r["created_at"]),
            "strategy": r.get("strategy") or "",
            "model_version": str(r.get("model_version") or ""),
            "label": r["label"],
            "prediction": r["suggestion"]["prediction"],
            "probabilities": r["suggestion"].get("probabilities") or {},
        }
        for r in rows
    ]
    frame = pd.DataFrame(records, columns=[*columns, "probabilities"])
    if len(frame):
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame.sort_values("label_id", kind="stable").reset_index(drop=True)


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _indicators(values: Sequence[Any], labels: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(values), len(labels)), dtype=int)
    for row, value in enumerate(values):
        for name in _as_list(value):
            if name in index:
                matrix[row, index[name]] = 1
    return matrix


def metric_function(space: MetricSpace) -> Callable[[pd.DataFrame], float]:
    """``frame -> value`` of the primary metric on labels (``label``) against predictions."""
    from sklearn.metrics import accuracy_score, f1_score, fbeta_score

    labels = list(space.labels)
    if space.task == "multilabel":
        beta = {"weighted_f2": 2.0, "weighted_f1": 1.0}.get(space.primary)
        if beta is None:
            raise ValueError(f"no live form of the multi-label metric {space.primary!r}")

        def multilabel(frame: pd.DataFrame) -> float:
            truth, predicted = _indicators(frame["label"], labels), _indicators(frame["prediction"], labels)
            return float(fbeta_score(truth, predicted, beta=beta, average="weighted", zero_division=0))

        return multilabel

    def classes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return frame["label"].map(lambda v: _as_list(v)[0]).to_numpy(), frame["prediction"].astype(
            str
        ).to_numpy()

    if space.primary == "accuracy":
        return lambda frame: float(accuracy_score(*classes(frame)))
    if space.primary in ("macro_f1", "weighted_f1"):
        average = space.primary.split("_")[0]
        return lambda frame: float(f1_score(*classes(frame), labels=labels, average=average, zero_division=0))
    if space.primary.startswith("f1_") and space.primary.removeprefix("f1_") in labels:
        positive = space.primary.removeprefix("f1_")
        return lambda frame: float(
            f1_score(*classes(frame), labels=[positive], average="macro", zero_division=0)
        )
    if space.extra_metrics is not None:
        return _extra_metric(space)
    raise ValueError(f"no live form of the metric {space.primary!r} (it needs more than labels)")


def _extra_metric(space: MetricSpace) -> Callable[[pd.DataFrame], float]:
    """The primary metric from the use case's own ``extra_metrics``, fed the queued probabilities."""
    labels = list(space.labels)

    def extra(frame: pd.DataFrame) -> float:
        truth = pd.DataFrame({space.label_column: frame["label"].map(lambda v: _as_list(v)[0]).to_numpy()})
        predictions = pd.DataFrame(
            {name: [float(p.get(name, 0.0)) for p in frame["probabilities"]] for name in labels}
        )
        predictions["prediction"] = frame["prediction"].astype(str).to_numpy()
        return float(space.extra_metrics(truth, predictions, labels)[space.primary])  # type: ignore[misc]

    return extra


def bootstrap(frame: pd.DataFrame, metric: Callable[[pd.DataFrame], float], seed: int = 0) -> dict[str, Any]:
    """The metric on ``frame`` with a 95 % percentile bootstrap interval (labels resampled)."""
    if not len(frame):
        return {"labels": 0, "metric": None, "ci_low": None, "ci_high": None}
    value = metric(frame)
    if not np.isfinite(value):  # e.g. a PR AUC over labels of one class only
        return {"labels": len(frame), "metric": None, "ci_low": None, "ci_high": None}
    rng = np.random.default_rng(seed)
    draws = np.array([metric(frame.iloc[rng.integers(0, len(frame), len(frame))]) for _ in range(RESAMPLES)])
    draws = draws[np.isfinite(draws)]
    low, high = np.percentile(draws, [2.5, 97.5]) if len(frame) > 1 and len(draws) else (value, value)
    return {
        "labels": len(frame),
        "metric": round(float(value), 6),
        "ci_low": round(float(low), 6),
        "ci_high": round(float(high), 6),
    }


def _daily(frame: pd.DataFrame, metric: Callable[[pd.DataFrame], float]) -> list[dict[str, Any]]:
    days = frame["created_at"].dt.strftime("%Y-%m-%d")
    return [{"day": day, **bootstrap(part, metric)} for day, part in frame.groupby(days, sort=True)]


def _windows(frame: pd.DataFrame, metric: Callable[[pd.DataFrame], float]) -> list[dict[str, Any]]:
    """The metric per window of ``WINDOW`` labels in the order they came; ``labels`` is the count so far."""
    points = []
    for start in range(0, len(frame), WINDOW):
        part = frame.iloc[start : start + WINDOW]
        points.append({**bootstrap(part, metric), "labels": start + len(part), "window_labels": len(part)})
    return points


def version_quality(
    frame: pd.DataFrame, version: str, metric: Callable[[pd.DataFrame], float], holdout_metric: float | None
) -> dict[str, Any]:
    """One version's live quality: audit labels (the headline), and every label (biased) beside it."""
    mine = frame[frame["model_version"] == version]
    audited = mine[mine["strategy"].isin(UNBIASED)]
    overall = bootstrap(audited, metric)
    every = bootstrap(mine, metric)
    below = (
        holdout_metric is not None and overall["ci_high"] is not None and overall["ci_high"] < holdout_metric
    )
    return {
        "version": version,
        "holdout_metric": holdout_metric,
        **overall,
        "below_holdout": bool(below),
        "all_labels": every["labels"],
        "all_labels_metric": every["metric"],
        "daily": _daily(audited, metric) if len(audited) else [],
        "per_100": _windows(audited, metric) if len(audited) else [],
    }


def live_quality(
    rows: Sequence[dict[str, Any]], space: MetricSpace, holdout: dict[str, float | None]
) -> list[dict[str, Any]]:
    """Every version that has labels, or a holdout metric, oldest first."""
    frame = label_frame(rows)
    metric = metric_function(space)
    versions = sorted(set(frame["model_version"]) | set(holdout), key=lambda v: (len(v), v))
    return [version_quality(frame, v, metric, holdout.get(v)) for v in versions if v]

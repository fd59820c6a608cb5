"""Anomaly metrics of flow models: point-wise F1 (no point adjustment), event recall and precision,
recall per injected type (pure numpy/pandas).

Point-wise means every reading counts once: a detector that flags one reading of a 30-reading
dropout gets 1/30 of its recall, not all of it (point-adjusted scoring, like the seed's ±122-step
dilation, would credit the whole run). Events are runs of consecutive anomalous readings of one
series: event recall is the share of true runs with at least one flagged reading; event precision
is the share of flagged runs that touch a true run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _runs(flag: np.ndarray, group: np.ndarray) -> np.ndarray:
    """A run id per position (-1 where not flagged); runs stop at series boundaries."""
    start = flag & ~np.r_[False, flag[:-1] & (group[1:] == group[:-1])]
    ids = np.cumsum(start) - 1
    return np.where(flag, ids, -1)


def anomaly_metrics(
    series: pd.Series,
    time: pd.Series,
    truth: np.ndarray,
    predicted: np.ndarray,
    types: pd.Series | None = None,
) -> dict[str, float]:
    """Point and event metrics; rows in any order (sorted by series and time here)."""
    order = np.lexsort((pd.to_datetime(time, utc=True).to_numpy(), series.astype(str).to_numpy()))
    group = pd.factorize(series.astype(str).to_numpy()[order])[0]
    y = np.asarray(truth, dtype=bool)[order]
    p = np.asarray(predicted, dtype=bool)[order]
    tp = float((y & p).sum())
    precision = tp / p.sum() if p.sum() else 0.0
    recall = tp / y.sum() if y.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    true_runs, pred_runs = _runs(y, group), _runs(p, group)
    n_true, n_pred = int(true_runs.max() + 1), int(pred_runs.max() + 1)
    hit_true = np.unique(true_runs[(true_runs >= 0) & p])
    hit_pred = np.unique(pred_runs[(pred_runs >= 0) & y])
    out = {
        "point_f1": f1,
        "point_precision": precision,
        "point_recall": recall,
        "event_recall": len(hit_true) / n_true if n_true else 0.0,
        "event_precision": len(hit_pred) / n_pred if n_pred else 0.0,
        "true_events": float(n_true),
        "flagged_events": float(n_pred),
    }
    if types is not None:
        kinds = types.fillna("").astype(str).to_numpy()[order]
        for kind in sorted(set(kinds) - {""}):
            rows = kinds == kind
            out[f"recall_{kind}"] = float((p & rows).sum() / rows.sum())
            runs = np.unique(true_runs[rows & (true_runs >= 0)])
            found = np.unique(true_runs[rows & p & (true_runs >= 0)])
            out[f"event_recall_{kind}"] = len(found) / len(runs) if len(runs) else 0.0
    return out


def evaluation_metrics(
    frame: pd.DataFrame, predictions: pd.DataFrame, labels: list[str] | None = None
) -> dict[str, float]:
    """The lifecycle's extra metrics for flow (``LifecycleSpec.extra_metrics``; ``labels`` unused):
    ``frame`` holds ``series, time, label`` (and ``type`` for injected anomalies), ``predictions``
    the pyfunc output."""
    types = frame["type"] if "type" in frame.columns else None
    return anomaly_metrics(
        frame["series"],
        frame["time"],
        frame["label"].astype(str).to_numpy() == "anomaly",
        predictions["prediction"].astype(str).to_numpy() == "anomaly",
        types,
    )

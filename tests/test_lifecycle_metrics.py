"""Generic label metrics: a hand-computed weighted F2, the per-label report, curves, indicators."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from assets.lifecycle.metrics import (
    indicator_matrix,
    multilabel_metrics,
    multilabel_report,
    pr_curves_png,
    roc_curves_png,
    weighted_fbeta,
)

LABELS = ["water", "food", "fire"]
# water: support 3, TP 2, FP 0 -> P 1, R 2/3, F2 = 5*(2/3) / (4 + 2/3) = 5/7
# food:  support 2, TP 1, FP 1 -> P 1/2, R 1/2, F2 = 1/2
# fire:  support 0 with one false alarm -> weight 0 in the weighted mean
# weighted F2 = (3 * 5/7 + 2 * 1/2) / 5 = 22/35
Y_TRUE = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0]])
Y_PRED = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]])
Y_PROBA = np.array([[0.9, 0.2, 0.1], [0.4, 0.7, 0.2], [0.3, 0.45, 0.6], [0.8, 0.6, 0.1]])


def test_weighted_f2_matches_hand_computation() -> None:
    assert math.isclose(weighted_fbeta(Y_TRUE, Y_PRED), 22 / 35)
    assert math.isclose(weighted_fbeta(Y_TRUE, Y_PRED, beta=1.0), (3 * 0.8 + 2 * 0.5) / 5)
    assert multilabel_metrics(Y_TRUE, Y_PRED, Y_PROBA)["weighted_f2"] == weighted_fbeta(Y_TRUE, Y_PRED)


def test_metrics_keys_and_ranges() -> None:
    metrics = multilabel_metrics(Y_TRUE, Y_PRED, Y_PROBA)
    expected = {"weighted_f2", "micro_f1", "macro_f1", "samples_f1", "weighted_precision", "weighted_recall"}
    assert expected <= set(metrics)
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in metrics.values())
    assert math.isclose(metrics["weighted_precision"], (3 * 1.0 + 2 * 0.5) / 5)
    assert math.isclose(metrics["micro_f1"], 2 * 3 / (2 * 3 + 2 + 2))  # TP 3, FP 2, FN 2


def test_report_per_label_and_nan_safe() -> None:
    report = multilabel_report(Y_TRUE, Y_PRED, Y_PROBA, LABELS)
    assert list(report.columns) == [
        "label",
        "support",
        "precision",
        "recall",
        "f1",
        "f2",
        "average_precision",
        "roc_auc",
    ]
    rows = report.set_index("label")
    assert rows["support"].tolist() == [3, 2, 0]
    assert math.isclose(rows.loc["water", "f2"], 5 / 7)
    assert math.isclose(rows.loc["food", "recall"], 0.5)
    assert rows.loc["water", "average_precision"] == 1.0  # the three positives rank above the negative
    assert math.isclose(rows.loc["food", "roc_auc"], 0.75)
    assert math.isnan(rows.loc["fire", "average_precision"]) and math.isnan(rows.loc["fire", "roc_auc"])


def test_curves_written_as_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    truth = (rng.random((200, 5)) < [0.5, 0.3, 0.1, 0.05, 0.0]).astype(int)  # last label never positive
    proba = np.clip(truth * 0.3 + rng.random((200, 5)) * 0.7, 0, 1)
    names = [f"label_{j}" for j in range(5)]
    for draw, name in [(pr_curves_png, "pr.png"), (roc_curves_png, "roc.png")]:
        path = draw(truth, proba, names, tmp_path / name, top=3)
        assert Path(path) == tmp_path / name
        content = Path(path).read_bytes()
        assert content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 1000


def test_indicator_matrix_round_trip() -> None:
    predictions = [[LABELS[j] for j in np.flatnonzero(row)] for row in Y_PRED]
    assert predictions[2] == ["fire"]
    assert np.array_equal(indicator_matrix(predictions, LABELS), Y_PRED)
    assert indicator_matrix([[], ["food", "water"]], LABELS).tolist() == [[0, 0, 0], [1, 1, 0]]

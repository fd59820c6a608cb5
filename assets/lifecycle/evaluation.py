"""Scoring a model on a labelled frame through its pyfunc contract, for any use case.

Every model is judged the same way it serves: raw records in, probability columns and
``prediction`` out. That makes the challenger and the champion comparable and checks the contract
on every evaluation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, f1_score

from assets.lifecycle.metrics import (
    indicator_matrix,
    multilabel_metrics,
    multilabel_report,
    pr_curves_png,
    roc_curves_png,
)
from assets.lifecycle.spec import LabelledTable


@dataclass
class Evaluation:
    metrics: dict[str, float]
    report: pd.DataFrame  # one row per class or label


def check_contract(predictions: pd.DataFrame, labels: list[str], rows: int) -> None:
    """Fail loudly when a model's output breaks the contract shared by every use case."""
    missing = [c for c in [*labels, "prediction"] if c not in predictions.columns]
    if missing:
        raise ValueError(f"model output lacks {missing}: the contract is one column per class + 'prediction'")
    if len(predictions) != rows:
        raise ValueError(f"model returned {len(predictions)} rows for {rows} records")


def _metric_name(label: str) -> str:
    """A class name as MLflow accepts it in a metric name."""
    return re.sub(r"[^A-Za-z0-9_.\-/ ]", "_", str(label))


def evaluate(table: LabelledTable, frame: pd.DataFrame, predictions: pd.DataFrame, task: str) -> Evaluation:
    labels = list(table.labels)
    check_contract(predictions, labels, len(frame))
    proba = predictions[labels].to_numpy(dtype=float)
    if task == "multilabel":
        truth = frame[labels].to_numpy(dtype=int)
        predicted = indicator_matrix(list(predictions["prediction"]), labels)
        report = multilabel_report(truth, predicted, proba, labels)
        return Evaluation(multilabel_metrics(truth, predicted, proba), report)
    truth = frame[table.label_column].astype(str).to_numpy()
    predicted = predictions["prediction"].astype(str).to_numpy()
    metrics = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(truth, predicted, average="weighted", zero_division=0)),
    }
    # The best constant guess on this very set: a model must beat it to have learnt anything.
    majority = float(pd.Series(truth).value_counts(normalize=True).iloc[0]) if len(truth) else 0.0
    metrics["majority_accuracy"] = majority
    # Per-class F1 (e.g. the AI class of a binary relevance model is what matters, not accuracy).
    per_class = f1_score(truth, predicted, labels=labels, average=None, zero_division=0)
    metrics.update({f"f1_{_metric_name(c)}": float(v) for c, v in zip(labels, per_class, strict=True)})
    metrics["accuracy_lift"] = metrics["accuracy"] - majority
    report = pd.DataFrame(classification_report(truth, predicted, output_dict=True, zero_division=0)).T
    return Evaluation(metrics, report.reset_index(names="class"))


def curve_figures(
    table: LabelledTable, frame: pd.DataFrame, predictions: pd.DataFrame, task: str, folder: Path
) -> list[Path]:
    """PR and ROC curves as PNG files (one-vs-rest for multi-class)."""
    labels = list(table.labels)
    proba = predictions[labels].to_numpy(dtype=float)
    if task == "multilabel":
        truth = frame[labels].to_numpy(dtype=int)
    else:
        values = frame[table.label_column].astype(str).to_numpy()
        truth = np.stack([(values == label).astype(int) for label in labels], axis=1)
    folder.mkdir(parents=True, exist_ok=True)
    return [
        Path(pr_curves_png(truth, proba, labels, folder / "pr_curves.png")),
        Path(roc_curves_png(truth, proba, labels, folder / "roc_curves.png")),
    ]


def comparison_png(metrics: dict[str, dict[str, float] | None], path: Path) -> Path:
    """Bars of each metric for each model (challenger vs champion), for MLflow and the Dagster UI."""
    from matplotlib.figure import Figure

    models = {name: values for name, values in metrics.items() if values}
    names = sorted(next(iter(models.values())))
    figure = Figure(figsize=(8, 4))
    axes = figure.add_subplot()
    width = 0.8 / max(len(models), 1)
    for i, (model, values) in enumerate(models.items()):
        xs = [j + i * width for j in range(len(names))]
        axes.bar(xs, [values.get(n, 0.0) for n in names], width=width, label=model)
    axes.set_xticks(
        [j + width * (len(models) - 1) / 2 for j in range(len(names))], names, rotation=30, ha="right"
    )
    axes.set(ylim=(0, 1), title="holdout metrics")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    return path

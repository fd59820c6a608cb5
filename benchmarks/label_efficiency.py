"""Label efficiency: does the loop's uncertainty sampling need fewer labels than random choice?

Simulates annotation on real labelled data (``assets/loop/label_efficiency.py``): a frozen holdout
is drawn by content (the use case's ``holdout_fraction``, never in the pool); from a seed set the
loop adds ``--round-size`` labels per round (default: the use case's ``LoopSpec.budget``), chosen by
each of the project's strategies (least confidence, margin, entropy) and at random, retrains with
the use case's own trainer and scores the holdout with its primary metric, for ``--seeds``
repetitions. The full-data metric is the trainer fitted on the whole pool. Prints a table per
strategy and, last, ``labels_to_95pct_best=… labels_to_95pct_random=… ratio=…`` (best = fewest
labels, median over seeds). The curves go to a PNG (``--out``) and to MLflow (experiment
``label-efficiency``).

    python benchmarks/label_efficiency.py --use-case disaster|tweets|activity [--seeds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

STRATEGIES = ("least_confidence", "margin", "entropy", "random")


def _holdout_mask(texts: pd.Series, fraction: float = 0.2) -> np.ndarray:
    """By content: the same text (casefolded, whitespace collapsed) is always on the same side."""
    keys = texts.astype(str).str.casefold().str.split().str.join(" ")
    return np.array([int(hashlib.sha1(k.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction for k in keys])


def data_disaster() -> tuple[pd.DataFrame, list[str], str, str]:
    from assets.disaster.cleaning import clean_disaster
    from resources.spark import SparkResource

    folder = SHARED / "disaster_response"
    spark = SparkResource(master="local[2]").spark_session
    result = clean_disaster(
        spark, [str(folder / "disaster_messages.csv")], [str(folder / "disaster_categories.csv")]
    )
    return result.kept.toPandas(), list(result.labels), "message", "tfidf_logreg"


def data_tweets() -> tuple[pd.DataFrame, list[str], str, str]:
    frame = pd.read_parquet(SHARED / "tweets" / "ssp_val_dataset.parquet")
    frame = frame.assign(id=frame["id"].astype(str), label=frame["label"].astype(int).astype(str))
    return frame, ["0", "1"], "text", "soft_logreg"


def data_activity() -> tuple[pd.DataFrame, list[str], str, str]:
    from assets.activity.cleaning import clean_windows
    from assets.activity.layouts import LABEL_COLUMN
    from resources.spark import SparkResource

    folder = SHARED / "casas_arwise"
    paths = [str(folder / "p1_windows_train.csv"), str(folder / "p1_windows_test.csv")]
    frame = clean_windows(SparkResource(master="local[2]").spark_session, paths).kept.toPandas()
    frame = frame.assign(window_id=[f"w{i}" for i in range(len(frame))])
    frame = frame[frame[LABEL_COLUMN].notna()].reset_index(drop=True)
    return frame, sorted(frame[LABEL_COLUMN].astype(str).unique()), "stamp", "hist_gradient_boosting"


def _measurable() -> list[str]:
    """Use cases with a ``data_<uc>`` loader here: (rows, labels, content column, trainer), the trainer
    being the use case's fastest competing one (the simulation retrains hundreds of times)."""
    from orchestration.use_cases import use_case_names

    return [name for name in use_case_names() if callable(globals().get(f"data_{name}"))]


def _setup(use_case: str):
    from assets.lifecycle.evaluation import evaluate
    from assets.lifecycle.spec import LabelledTable
    from orchestration.use_cases import load_use_case

    declared = load_use_case(use_case)
    spec, loop = declared.spec, declared.loop
    frame, labels, content_column, trainer_name = globals()[f"data_{use_case}"]()
    multilabel = spec.task == "multilabel"
    id_column = "window_id" if use_case == "activity" else "id"
    label_column = None if multilabel else ("activity_label" if use_case == "activity" else "label")
    table = LabelledTable("", tuple(labels), id_column, label_column)
    held = _holdout_mask(frame[content_column], spec.holdout_fraction)
    holdout, pool = frame[held].reset_index(drop=True), frame[~held].reset_index(drop=True)
    trainer = spec.available_trainers()[trainer_name]
    columns = [c for c in spec.record_columns if c in frame.columns]

    def fit(rows: pd.DataFrame):
        return trainer(rows, labels, 0)

    def proba(model, rows: pd.DataFrame) -> np.ndarray:
        return model.predict(None, rows[columns].reset_index(drop=True))[labels].to_numpy(dtype=float)

    def score(model) -> float:
        predictions = model.predict(None, holdout[columns].reset_index(drop=True))
        return float(evaluate(table, holdout, predictions, spec.task).metrics[spec.primary_metric])

    def usable(rows: pd.DataFrame) -> bool:
        if multilabel:
            return len(rows) >= 10
        return rows[label_column].astype(str).nunique() >= 2

    return spec, loop, pool, holdout, fit, proba, score, usable, multilabel


def _plot(curves, full: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy in STRATEGIES:
        mine = [c for c in curves if c.strategy == strategy]
        x = np.array(mine[0].labels)
        y = np.array([c.metric for c in mine], dtype=float)
        mean = np.nanmean(y, axis=0)
        ax.plot(x, mean, label=strategy)
        ax.fill_between(x, np.nanmin(y, axis=0), np.nanmax(y, axis=0), alpha=0.15)
    ax.axhline(full, color="black", lw=0.8, ls="--", label="full pool")
    ax.axhline(0.95 * full, color="grey", lw=0.8, ls=":", label="95 % of full")
    ax.set(xlabel="labels", ylabel="holdout metric", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--use-case", choices=_measurable(), required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--seed-size", type=int, default=None, help="Labels to start from (default: 2 rounds)."
    )
    parser.add_argument(
        "--round-size", type=int, default=None, help="Labels per round (default: LoopSpec.budget)."
    )
    parser.add_argument(
        "--max-labels", type=int, default=None, help="Stop after this many labels (default: pool)."
    )
    parser.add_argument(
        "--out",
        default=None,
        help="PNG path (default: $FLYWHEEL_HOME/monitoring/<uc>/label_efficiency.png, on the monitor page).",
    )
    args = parser.parse_args()

    from assets.loop.label_efficiency import labels_to_reach, simulate, summary

    started = time.monotonic()
    spec, loop, pool, holdout, fit, proba, score, usable, multilabel = _setup(args.use_case)
    round_size = args.round_size or loop.budget
    seed_size = args.seed_size or 2 * round_size
    limit = min(args.max_labels or len(pool), len(pool))
    rounds = max(1, (limit - seed_size) // round_size)
    full = score(fit(pool))
    print(
        f"{args.use_case}: pool {len(pool)}, holdout {len(holdout)}, metric {spec.primary_metric}, "
        f"full-pool {full:.4f}, seed set {seed_size}, {rounds} rounds of {round_size}, {args.seeds} seeds, "
        f"loop default strategy {loop.strategy}"
    )
    curves = []
    for seed in range(args.seeds):
        for strategy in STRATEGIES:
            curve = simulate(
                pool, strategy, seed, seed_size, round_size, rounds, fit, proba, score, multilabel, usable
            )
            curves.append(curve)
            print(f"  seed {seed} {strategy:<16} labels to 95 %: {labels_to_reach(curve, 0.95 * full)}  "
                  f"last {curve.metric[-1]:.4f}", flush=True)  # fmt: skip
    table = summary(curves, full)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    out = Path(args.out) if args.out else _monitoring_png(args.use_case)
    out.parent.mkdir(parents=True, exist_ok=True)
    _curve_table(curves).to_csv(out.with_suffix(".csv"), index=False)
    _plot(curves, full, out, f"{args.use_case}: {spec.primary_metric} by labels ({args.seeds} seeds)")
    _log_mlflow(args.use_case, table, out, full)
    # Fewest labels to the target; ties (e.g. no strategy reaches it) go to the higher mean metric.
    ranked = table[table["strategy"] != "random"].sort_values(
        ["labels_to_target_median", "mean_metric"], ascending=[True, False]
    )
    uncertain = ranked.iloc[0]
    random_row = table[table["strategy"] == "random"].iloc[0]
    best, rand = uncertain["labels_to_target_median"], random_row["labels_to_target_median"]
    print(f"best strategy {uncertain['strategy']}; plot {out}; {time.monotonic() - started:.0f} s")
    print(f"labels_to_95pct_best={best:.0f} labels_to_95pct_random={rand:.0f} ratio={best / rand:.3f}")


def _monitoring_png(use_case: str) -> Path:
    from orchestration.settings import get_settings

    return get_settings().home / "monitoring" / use_case / "label_efficiency.png"


def _curve_table(curves) -> pd.DataFrame:
    """Median, min and max metric per strategy and label count over the seeds (the plotted curves)."""
    rows = [
        {"strategy": c.strategy, "seed": c.seed, "labels": n, "metric": m}
        for c in curves
        for n, m in zip(c.labels, c.metric, strict=True)
    ]
    grouped = pd.DataFrame(rows).groupby(["strategy", "labels"])["metric"]
    return grouped.agg(metric_median="median", metric_min="min", metric_max="max").reset_index()


def _log_mlflow(use_case: str, table: pd.DataFrame, png: Path, full: float) -> None:
    import mlflow

    from orchestration.settings import export_defaults

    mlflow.set_tracking_uri(export_defaults().mlflow_tracking_uri)
    mlflow.set_experiment("label-efficiency")
    with mlflow.start_run(run_name=use_case):
        mlflow.log_metric("full_pool_metric", full)
        for row in table.itertuples(index=False):
            mlflow.log_metric(f"{row.strategy}_labels_to_95pct", row.labels_to_target_median)
        mlflow.log_artifact(str(png))


if __name__ == "__main__":
    main()

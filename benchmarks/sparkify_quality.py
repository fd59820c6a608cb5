"""Sparkify churn models against the generator's truth, on the lifecycle's own frozen holdout.

After ``flywheel materialize sparkify`` on generated logs (``flywheel generate sparkify``, whose
``truth/users.csv`` holds each user's true hazard), every trainer is fitted on the rows of the users
outside the holdout and scored on the holdout through the pyfunc contract (each user's events up to
the cutoff, :func:`assets.sparkify.model.score_examples`), beside the true hazard's own ranking
(``1 - exp(-daily_hazard * horizon)``), the ceiling no model can beat on average.

    python benchmarks/sparkify_quality.py --home .flywheel --truth <landing>/sparkify/truth/users.csv

On a real eventsim log (``--real ../shared/data/sparkify_eventsim``, the development half): the
lifecycle's own examples (:func:`assets.sparkify.features.examples`, cutoffs every ``--every`` days)
and every trainer, in user-grouped 5-fold cross-validation; each held-out fold is scored through the
pyfunc contract (each user's raw events before each cutoff) and the pooled scores are judged with a
bootstrap over users (90 %), beside the prevalence-only baseline. The last line is
``real_roc_auc=… real_pr_auc=… prevalence=…`` for the trainer with the best pooled PR AUC.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home")
    parser.add_argument("--truth")
    parser.add_argument("--real", help="a real eventsim log folder (log_data/**/*.json)")
    parser.add_argument("--every", type=float, default=1.0, help="days between cutoffs (--real)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--horizon", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.real:
        return real_log(Path(args.real), args.horizon, args.every, args.folds)
    if not (args.home and args.truth):
        parser.error("--home and --truth (generated logs), or --real (a real log)")
    os.environ["FLYWHEEL_HOME"] = str(Path(args.home).resolve())

    import numpy as np
    import pandas as pd
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    from assets.sparkify.generator import true_churn_probability
    from assets.sparkify.model import TRAINERS, score_examples, user_history
    from resources.spark import SparkResource

    # The Spark trainers use the current session.
    _session = SparkResource(master=os.environ.get("SPARK_MASTER", "local[2]")).spark_session
    home = Path(args.home)
    features = pd.read_parquet(home / "tables" / "sparkify" / "clean" / "user_features.parquet")
    holdout = pd.read_parquet(home / "lifecycle" / "sparkify" / "holdout" / "holdout-v1.parquet")
    train = features[~features["userId"].isin(set(holdout["userId"]))]
    history = user_history(sorted(holdout["userId"].unique()))
    y = (holdout["churn"] == "churn").to_numpy(dtype=int)
    truth = pd.read_csv(args.truth, dtype={"userId": str})
    ceiling = holdout["userId"].map(true_churn_probability(truth, args.horizon)).to_numpy(dtype=float)
    print(f"training rows {len(train)} ({train['userId'].nunique()} users), holdout rows {len(holdout)} "
          f"({holdout['userId'].nunique()} users), churn share {y.mean():.3f}")  # fmt: skip
    print(f"{'model':28} {'ROC AUC':>8} {'PR AUC':>8} {'churn F1':>9} {'wF1':>6} {'fit s':>6}")
    for name, trainer in TRAINERS.items():
        started = time.monotonic()
        model = trainer(train, ["churn", "stay"], 0)
        fit = time.monotonic() - started
        scored = score_examples(lambda r, m=model: m.predict(None, r), holdout, history=history)
        p = scored["churn"].to_numpy()
        pred = (p >= 0.5).astype(int)
        roc, pr, weighted = (
            roc_auc_score(y, p),
            average_precision_score(y, p),
            f1_score(y, pred, average="weighted"),
        )
        print(f"{name:28} {roc:8.3f} {pr:8.3f} {f1_score(y, pred):9.3f} {weighted:6.3f} {fit:6.0f}")
    pred = (ceiling >= np.quantile(ceiling, 1 - y.mean())).astype(int)
    roc, pr = roc_auc_score(y, ceiling), average_precision_score(y, ceiling)
    print(f"{'true hazard (ceiling)':28} {roc:8.3f} {pr:8.3f} "
          f"{f1_score(y, pred):9.3f} {f1_score(y, pred, average='weighted'):6.3f}")  # fmt: skip
    return 0


def _read_log(folder: Path) -> object:
    import pandas as pd

    files = sorted(folder.glob("log_data/**/*.json")) or sorted(folder.glob("**/*.json"))
    events = pd.concat([pd.read_json(f, lines=True, dtype=False) for f in files], ignore_index=True)
    return events.assign(userId=events["userId"].astype(str))


def _user_folds(users: object, folds: int, salt: str = "sparkify-cv") -> object:
    """A stable fold per user (a salted hash), so a user's rows are all in one fold."""
    import hashlib

    return users.map(lambda u: int(hashlib.sha1(f"{salt}:{u}".encode()).hexdigest(), 16) % folds)


def real_log(folder: Path, horizon: float, every: float, folds: int) -> int:
    """User-grouped cross-validation of every trainer on a real log, scored through the pyfunc."""
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    from assets.lifecycle.confidence import ConfidenceRule, group_bootstrap
    from assets.sparkify.features import examples, weekly_cutoffs
    from assets.sparkify.model import TRAINERS, score_examples
    from resources.spark import SparkResource

    _session = SparkResource(master=os.environ.get("SPARK_MASTER", "local[2]")).spark_session
    events = _read_log(folder)
    cutoffs = weekly_cutoffs(int(events["ts"].min()), int(events["ts"].max()), horizon, every)
    rows = examples(events, cutoffs, horizon)
    fold = _user_folds(rows["userId"], folds).to_numpy()
    y = (rows["churn"] == "churn").to_numpy(dtype=int)
    prevalence = float(y.mean())
    churn_users = rows.loc[y == 1, "userId"].nunique()
    print(
        f"{len(rows)} rows ({rows['userId'].nunique()} users, {len(cutoffs)} cutoffs every {every:g} "
        f"days), {int(y.sum())} churn rows of {churn_users} users, prevalence {prevalence:.3f}"
    )
    rule = ConfidenceRule(resamples=500)

    def interval(scores: np.ndarray) -> tuple[float, float]:
        def metrics(pos: np.ndarray) -> dict[str, float]:
            if not 0 < y[pos].sum() < len(pos):
                return {}
            return {
                "roc": roc_auc_score(y[pos], scores[pos]),
                "pr": average_precision_score(y[pos], scores[pos]),
            }

        return group_bootstrap(rows["userId"], metrics, ["roc", "pr"], rule)

    print(f"{'model':28} {'ROC AUC (90% CI)':>24} {'PR AUC (90% CI)':>24} {'fit s':>6}")
    best = None
    for name, trainer in TRAINERS.items():
        scores = np.full(len(rows), np.nan)
        started = time.monotonic()
        for k in range(folds):
            train, test = rows[fold != k], rows[fold == k]
            model = trainer(train, ["churn", "stay"], 0)
            scored = score_examples(lambda r, m=model: m.predict(None, r), test, history=events)
            scores[fold == k] = scored["churn"].to_numpy()
        seconds = time.monotonic() - started
        roc, pr = roc_auc_score(y, scores), average_precision_score(y, scores)
        ci = interval(scores)
        print(f"{name:28} {roc:6.3f} ({ci['roc'][0]:.3f}-{ci['roc'][1]:.3f})      "
              f"{pr:6.3f} ({ci['pr'][0]:.3f}-{ci['pr'][1]:.3f})      {seconds:6.0f}")  # fmt: skip
        if best is None or pr > best[2]:
            best = (name, roc, pr, ci)
    print(f"{'prevalence only':28} {0.5:6.3f}                    {prevalence:6.3f}")
    name, roc, pr, ci = best
    print(f"best: {name}; ROC AUC 90% interval {ci['roc'][0]:.3f}-{ci['roc'][1]:.3f}, "
          f"PR AUC {ci['pr'][0]:.3f}-{ci['pr'][1]:.3f}")  # fmt: skip
    print(f"real_roc_auc={roc:.3f} real_pr_auc={pr:.3f} prevalence={prevalence:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sparkify churn models against the generator's truth, on the lifecycle's own frozen holdout.

After ``flywheel materialize sparkify`` on generated logs (``flywheel generate sparkify``, whose
``truth/users.csv`` holds each user's true hazard), every trainer is fitted on the rows of the users
outside the holdout and scored on the holdout through the pyfunc contract (each user's events up to
the cutoff, :func:`assets.sparkify.model.score_examples`), beside the true hazard's own ranking
(``1 - exp(-daily_hazard * horizon)``), the ceiling no model can beat on average.

    python benchmarks/sparkify_quality.py --home .flywheel --truth <landing>/sparkify/truth/users.csv
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
    parser.add_argument("--home", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--horizon", type=float, default=30.0)
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())

"""Model quality on held-out data, measured through the asset graph (not a test: it prints figures).

For each use case: the shared data is landed in a scratch ``FLYWHEEL_HOME``, the use case's whole
graph runs through a Dagster instance (clean → checks → frozen holdout → challengers → evaluation
→ gate → champion), and the holdout metrics the evaluation measured are printed. The holdout is
drawn from the shared data by the graph itself and is never trained on.

    python benchmarks/model_quality.py [disaster ...] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def _isolated_home(keep: bool) -> Path:
    home = Path(tempfile.mkdtemp(prefix="flywheel-bench-"))
    from orchestration.settings import home_environment

    os.environ.update(home_environment(home))
    (home / "dagster").mkdir(parents=True)
    print(f"FLYWHEEL_HOME={home}" + ("" if keep else " (removed afterwards; --keep to keep it)"))
    return home


def disaster(home: Path) -> dict[str, float]:
    from dagster import DagsterInstance

    from assets.lifecycle.factory import latest_evaluation
    from orchestration.definitions import build_definitions
    from orchestration.materialize import materialize_use_case

    landing = home / "landing" / "disaster"
    landing.mkdir(parents=True)
    for name in ("disaster_messages.csv", "disaster_categories.csv"):
        shutil.copyfile(SHARED / "disaster_response" / name, landing / name)
    started = time.monotonic()
    summary = materialize_use_case("disaster", build_definitions(), DagsterInstance.get())
    elapsed = time.monotonic() - started
    if summary.failed_runs:
        raise SystemExit(f"disaster graph failed: runs {summary.failed_runs}")
    result = latest_evaluation(DagsterInstance.get(), "disaster")
    metrics = result["challenger_metrics"]
    print(
        f"disaster: rows in {summary.rows_in}, kept {summary.rows_kept}, "
        f"quarantined {summary.rows_quarantined}"
    )
    print(
        f"disaster: holdout rows {result['holdout_rows']} (frozen, never trained on); "
        f"graph took {elapsed:.0f}s"
    )
    for name in sorted(metrics):
        print(f"disaster: holdout {name} = {metrics[name]:.4f}")
    print(f"disaster: champion {summary.champion}; reference project reported weighted F2 ~0.567")
    return {"disaster_weighted_f2": metrics["weighted_f2"]}


def tweets(home: Path) -> dict[str, float]:
    """The shared tweets folder landed as it is. Label-model accuracy and the classifier's AI-class F1
    are both measured on the frozen holdout: hand labels the label model was not fitted on (it sees
    only the dev half, for its class balance) and the classifier never trained on."""
    import pandas as pd
    from dagster import DagsterInstance

    from assets.lifecycle.factory import latest_evaluation
    from assets.tweets.labeling_functions import RULE_LFS
    from orchestration.definitions import build_definitions
    from orchestration.materialize import materialize_use_case

    shutil.copytree(SHARED / "tweets", home / "landing" / "tweets")
    started = time.monotonic()
    summary = materialize_use_case("tweets", build_definitions(), DagsterInstance.get())
    elapsed = time.monotonic() - started
    if summary.failed_runs:
        raise SystemExit(f"tweets graph failed: runs {summary.failed_runs}")
    tables = home / "tables" / "tweets"
    analysis = pd.read_parquet(tables / "lf_analysis.parquet")
    result = latest_evaluation(DagsterInstance.get(), "tweets")
    holdout = pd.read_parquet(result["holdout_path"])
    # The graph scored label model and majority vote on its "test" split: the same hand labels as
    # the lifecycle's frozen holdout (same salt and fraction), which the label model never saw.
    comparison = pd.read_parquet(tables / "label_model_comparison.parquet")
    on_test = comparison[comparison["split"] == "test"].set_index("method")
    metrics = result["challenger_metrics"]
    print(f"tweets: {len(analysis)} labeling functions ({len(RULE_LFS)} rules + clustering), {elapsed:.0f}s")
    print(analysis.to_string(float_format=lambda v: f"{v:.3f}"))
    print(
        f"tweets: holdout = {len(holdout)} hand-labelled tweets ({int((holdout['label'] == '1').sum())} AI)"
    )
    print(on_test.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"tweets: classifier on holdout: AI F1 {metrics['f1_1']:.4f}, accuracy {metrics['accuracy']:.4f}")
    print("tweets: the seed project reported label-model accuracy 0.803")
    return {
        "tweets_label_model_accuracy": float(on_test.loc["label_model", "accuracy"]),
        "tweets_classifier_f1_ai": metrics["f1_1"],
    }


def _benchmarks() -> dict:
    """The use cases this file measures: those with a function of their name here (no list)."""
    from orchestration.use_cases import use_case_names

    return {name: globals()[name] for name in use_case_names() if callable(globals().get(name))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchmarks = _benchmarks()
    parser.add_argument("use_cases", nargs="*", default=list(benchmarks), choices=[*benchmarks, []])
    parser.add_argument("--keep", action="store_true", help="keep the scratch FLYWHEEL_HOME")
    args = parser.parse_args()
    home = _isolated_home(args.keep)
    figures: dict[str, float] = {}
    try:
        for name in args.use_cases or list(benchmarks):
            figures.update(benchmarks[name](home))
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(" ".join(f"{k}={v:.4f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()

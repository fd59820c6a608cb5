"""Model quality on held-out data, measured through the asset graph (not a test: it prints figures).

For each use case: the shared data is landed in a scratch ``FLYWHEEL_HOME``, the use case's whole
graph runs through a Dagster instance (clean → checks → frozen holdout → challengers → evaluation
→ gate → champion), and the holdout metrics the evaluation measured are printed. The holdout is
drawn from the shared data by the graph itself and is never trained on.

    python benchmarks/model_quality.py [disaster ...] [--keep]
"""

from __future__ import annotations

import argparse
import json
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
    os.environ.update(
        {
            "FLYWHEEL_HOME": str(home),
            "FLYWHEEL_LANDING": str(home / "landing"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "FLYWHEEL_DATABASE_URL": f"sqlite:///{home / 'annotations.db'}",
            "DAGSTER_HOME": str(home / "dagster"),
        }
    )
    (home / "dagster").mkdir(parents=True)
    print(f"FLYWHEEL_HOME={home}" + ("" if keep else " (removed afterwards; --keep to keep it)"))
    return home


def disaster(home: Path) -> dict[str, float]:
    from dagster import DagsterInstance

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
    result = json.loads((home / "lifecycle" / "disaster" / "evaluation.json").read_text())
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


BENCHMARKS = {"disaster": disaster}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("use_cases", nargs="*", default=list(BENCHMARKS), choices=[*BENCHMARKS, []])
    parser.add_argument("--keep", action="store_true", help="keep the scratch FLYWHEEL_HOME")
    args = parser.parse_args()
    home = _isolated_home(args.keep)
    figures: dict[str, float] = {}
    try:
        for name in args.use_cases or list(BENCHMARKS):
            figures.update(BENCHMARKS[name](home))
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(" ".join(f"{k}={v:.4f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()

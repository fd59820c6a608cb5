"""The temporal-holdout table of issue 14: every flow trainer (and the zero-only rule) trained on the
first 80 % of each series' time and judged on the last 20 %, point-wise (no point adjustment).

    PYTHONPATH=. python benchmarks/flow_holdout_table.py [--series 30 --days 20] [--quick] [--only test60k]

Two data sets: ``test60k.csv`` (raw readings, labels where raw != corrected) and generated series
(real clean flow with injected anomalies, ``assets/flow/generator.py``). Prints one markdown table
per data set and the per-type recall on the generated one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from assets.flow import model as M
from assets.flow.generator import as_labelled_frame, generate_series
from assets.flow.metrics import evaluation_metrics
from assets.flow.parsing import corrected_labels, parse_times
from assets.lifecycle.holdout import in_time_holdout

SHARED = Path("/work/shared/data/flow")


def test60k() -> pd.DataFrame:
    d = pd.read_csv(SHARED / "test60k.csv")
    return pd.DataFrame(
        {
            "series": "test60k",
            "time": parse_times(d["time"]),
            "value": d["raw"],
            "label": corrected_labels(d["raw"], d["corrected"]),
            "type": "",
        }
    )


def trainers(quick: bool) -> dict:
    epochs = (1, 1) if quick else (3, 4)
    return {
        "zero_only (rule)": M.train_zero_only,
        "robust_z (unsupervised)": M.train_robust_z,
        "isolation_forest (unsupervised, seed)": M.train_isolation_forest,
        "gbm (window features)": M.train_gbm,
        "lstm (seed, BiLSTM)": lambda f, labels, s: M.train_torch(f, labels, s, "lstm", epochs[0], 20_000),
        "fcn (seed)": lambda f, labels, s: M.train_torch(f, labels, s, "fcn", epochs[1], 30_000),
    }


def table(frame: pd.DataFrame, quick: bool) -> tuple[pd.DataFrame, dict]:
    held = in_time_holdout(frame["time"], frame["series"], 0.2)
    train, test = frame[~held], frame[held]
    rows, per_type = [], {}
    for name, train_fn in trainers(quick).items():
        started = time.monotonic()
        model = train_fn(train, M.LABELS, 0)
        fit = time.monotonic() - started
        found = evaluation_metrics(test, model.predict(None, test[["series", "time", "value"]]))
        rows.append(
            {
                "trainer": name,
                "point_f1": found["point_f1"],
                "point_precision": found["point_precision"],
                "point_recall": found["point_recall"],
                "event_recall": found["event_recall"],
                "event_precision": found["event_precision"],
                "fit_s": round(fit, 1),
            }
        )
        per_type[name] = {k: v for k, v in found.items() if k.startswith("recall_")}
        print(f"  {name}: point F1 {found['point_f1']:.3f} ({fit:.0f}s)", flush=True)
    return pd.DataFrame(rows), per_type


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=30)
    parser.add_argument("--days", type=float, default=20)
    parser.add_argument("--quick", action="store_true", help="1 epoch for the networks")
    parser.add_argument("--only", choices=["test60k", "generated"], help="one of the two data sets")
    args = parser.parse_args()
    sets = {
        "test60k": lambda: ("test60k.csv (temporal holdout: last 20 %)", test60k()),
        "generated": lambda: (
            f"generated ({args.series} series x {args.days:g} days)",
            as_labelled_frame(generate_series(args.series, args.days, seed=11)),
        ),
    }
    for name, make in sets.items():
        if args.only and name != args.only:
            continue
        label, frame = make()
        print(
            f"## {label}: {len(frame)} readings, {int((frame['label'] == 'anomaly').sum())} anomalous",
            flush=True,
        )
        result, per_type = table(frame, args.quick)
        print(result.to_markdown(index=False, floatfmt=".3f"))
        if any(per_type.values()):
            print(pd.DataFrame(per_type).T.to_markdown(floatfmt=".2f"))


if __name__ == "__main__":
    main()

"""Flow scoring speed and quality through the MLflow pyfunc (issue 14, item 9).

    PYTHONPATH=. python benchmarks/flow_scoring.py [--series 100 --readings 10000]

A gradient-boosting model is trained on other generated series (or ``--model`` points at a saved
pyfunc, e.g. a champion's artifacts), saved and loaded back as an MLflow pyfunc; ``series x
readings`` generated readings with injected anomalies (in shuffled row order, as a batch of many
series arrives) are scored in one call. Prints per-type recall and ends with
``readings_per_s=… f1=…`` (point-wise F1 of the anomaly class).

The scored series are new to the model, so by default the label-free ensemble scores them (the cold
start of issue 21); ``--known`` scores them as series with labels, through the supervised path.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import mlflow.pyfunc

from assets.flow import model as M
from assets.flow.generator import as_labelled_frame, generate_series
from assets.flow.metrics import evaluation_metrics


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--readings", type=int, default=10_000)
    parser.add_argument("--train-series", type=int, default=20)
    parser.add_argument("--model", default=None, help="a saved pyfunc to score with (default: train one)")
    parser.add_argument("--known", action="store_true", help="score them as trained-on (supervised)")
    args = parser.parse_args()
    started = time.monotonic()
    days = args.readings * 300 / 86_400
    frame = as_labelled_frame(generate_series(args.series, days, seed=101))
    frame = frame.groupby("series", group_keys=False).head(args.readings)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is None:
            train = as_labelled_frame(generate_series(args.train_series, 20, seed=7))
            mlflow.pyfunc.save_model(f"{tmp}/model", python_model=M.train_gbm(train, M.LABELS, 0))
        model = mlflow.pyfunc.load_model(args.model or f"{tmp}/model")
        if args.known:
            model.unwrap_python_model().supervised_series = frozenset(frame["series"].unique())
        records = frame[["series", "time", "value"]].sample(frac=1.0, random_state=0)
        records = records.assign(time=records["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))  # as on the topic
        scoring = time.monotonic()
        out = model.predict(records)
        seconds = time.monotonic() - scoring
    found = evaluation_metrics(frame.loc[records.index], out)
    for name, value in sorted(found.items()):
        if name.startswith(("recall_", "event_", "point_")):
            print(f"{name:28s} {value:.3f}")
    print(f"{len(records)} readings of {args.series} series scored in {seconds:.2f}s "
          f"(whole run {time.monotonic() - started:.0f}s)")  # fmt: skip
    print(f"readings_per_s={len(records) / seconds:.0f} f1={found['point_f1']:.4f}")


if __name__ == "__main__":
    main()

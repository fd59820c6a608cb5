"""The activity graph through Dagster: landing sensor on S3 (moto), per-file ingest with quarantine,
and a whole ``flywheel materialize activity`` on a smartwatch data set the code has never seen."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from dagster import DagsterInstance
from sensor_ticks import tick

from assets.activity.layouts import LABEL_COLUMN, WINDOW_COLUMNS, WINDOW_SIGNALS, WINDOW_STEPS
from orchestration.settings import Settings
from resources.object_store import ObjectStoreResource

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

WINDOWS_FILE = SHARED_DATA / "casas_arwise" / "p1_windows_test.csv"


def _tick(sensor, instance: DagsterInstance, store: ObjectStoreResource, cursor: str | None):
    return tick(sensor, instance, cursor, {"object_store": store})


def _malformed_windows() -> tuple[bytes, dict[str, int]]:
    """The real window file with three broken lines (one of each kind) and a blank line."""
    lines = WINDOWS_FILE.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 5)[0]  # fields cut off
    lines[3] = "2024-02-30 10:00:00.000000," + lines[3].split(",", 1)[1]  # no 30 February
    fields = lines[4].split(",")
    fields[5] = "n/a"
    lines[4] = ",".join(fields)
    lines.append("")
    return ("\n".join(lines) + "\n").encode(), {
        "wrong_field_count": 2,
        "bad_timestamp": 1,
        "non_numeric": 1,
    }


def test_landing_sensor_on_s3_runs_once_per_file_and_quarantines(s3_env: Settings) -> None:
    from assets.activity import definitions as activity
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    store = ObjectStoreResource(landing=s3_env.landing, endpoint_url=s3_env.aws_endpoint_url)
    instance = DagsterInstance.get()
    broken, reasons = _malformed_windows()
    store.write_bytes("activity/p1_windows_test.csv", WINDOWS_FILE.read_bytes())
    store.write_bytes("activity/broken_windows.csv", broken)
    store.write_bytes("activity/notes.csv", b"who,what\nme,something\n")
    store.write_bytes("activity/activity_mapping.csv", b"original,mapped\nEat,Meal\n")  # configuration

    first = _tick(activity.landing_sensor, instance, store, None)
    keys = sorted(r.partition_key for r in first.run_requests)
    assert keys == ["activity/broken_windows.csv", "activity/notes.csv", "activity/p1_windows_test.csv"]
    second = _tick(activity.landing_sensor, instance, store, first.cursor)
    assert not getattr(second, "run_requests", None)

    job = defs.resolve_job_def("activity_ingest")
    meta = {}
    for request in first.run_requests:
        result = job.execute_in_process(instance=instance, partition_key=request.partition_key)
        assert result.success  # an unknown layout does not fail its run (nor stop the others)
        [event] = result.get_asset_materialization_events()
        meta[request.partition_key] = {k: v.value for k, v in event.materialization.metadata.items()}

    good, bad, junk = (
        meta["activity/p1_windows_test.csv"],
        meta["activity/broken_windows.csv"],
        meta["activity/notes.csv"],
    )
    assert (good["layout"], good["rows_in"], good["rows_kept"], good["rows_quarantined"]) == (
        "windows",
        22,
        22,
        0,
    )
    assert bad["rows_in"] == 23 and bad["rows_kept"] == 19 and bad["rows_quarantined"] == 4
    assert {r: bad[f"quarantined_{r}"] for r in reasons} == reasons
    assert (junk["layout"], junk["rows_in"], junk["rows_quarantined"]) == ("unknown", 2, 2)

    quarantine = pd.read_parquet(s3_env.home / "tables" / "activity" / "quarantine")
    assert len(quarantine) == 6 and set(quarantine.columns) >= {"source_file", "line", "reason", "raw"}
    by_reason = quarantine.groupby("reason").size().to_dict()
    assert by_reason == {**reasons, "unknown_layout": 2}
    assert sorted(quarantine.loc[quarantine.reason == "bad_timestamp", "line"]) == [4]

    # Re-ingesting a file rewrites its rows: no duplicates.
    job.execute_in_process(instance=instance, partition_key="activity/p1_windows_test.csv")
    windows = pd.read_parquet(s3_env.home / "tables" / "activity" / "windows")
    assert len(windows) == 22 + 19 and windows["window_id"].is_unique


# --- a data set the code has never seen ----------------------------------------------------------

UNSEEN = {  # activity: (acceleration Hz, acceleration g, rotation Hz, rotation rad/s)
    "jogging": (2.6, 0.9, 2.6, 2.0),
    "walking": (1.8, 0.3, 1.8, 0.8),
    "sitting": (0.0, 0.01, 0.0, 0.02),
    "climbing_stairs": (1.2, 0.45, 0.6, 1.4),
}


def _unseen_windows(count: int, seed: int, start: str) -> pd.DataFrame:
    """Layout-(b) windows of a made-up watch study (other activity names, other signal shapes)."""
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW_STEPS) / 10.0
    names = list(UNSEEN)
    rows = []
    for i in range(count):
        label = names[i % len(names)]
        acc_hz, acc_g, rot_hz, rot = UNSEEN[label]
        phase = rng.uniform(0, 2 * np.pi, 6)
        values: dict[str, float | str] = {}
        for k, signal in enumerate(WINDOW_SIGNALS):
            hz, amp = (acc_hz, acc_g) if signal.startswith("user_acc") else (rot_hz, rot)
            series = amp * rng.uniform(0.7, 1.3) * np.sin(2 * np.pi * hz * t + phase[k])
            series = series + rng.normal(0, 0.02 + 0.1 * amp, WINDOW_STEPS)
            for j in range(WINDOW_STEPS):
                values[f"{signal}_{j + 1}"] = round(float(series[j]), 6)
        for j in range(WINDOW_STEPS):
            values[f"distance_from_home_{j + 1}"] = np.nan
            values[f"bearing_from_home_{j + 1}"] = np.nan
        stamp = pd.Timestamp(start) + pd.Timedelta(seconds=12 * i)
        rows.append({"stamp": stamp.strftime("%Y-%m-%d %H:%M:%S.%f"), **values, LABEL_COLUMN: label})
    return pd.DataFrame(rows)[list(WINDOW_COLUMNS)]


def test_materialize_on_an_unseen_data_set_gives_a_working_champion(flywheel_env: Settings) -> None:
    landing = Path(flywheel_env.landing) / "activity"
    landing.mkdir(parents=True)
    for user in range(3):
        frame = _unseen_windows(60, seed=user, start=f"2025-03-0{user + 1} 09:00:00")
        frame.to_csv(landing / f"study_u{user + 1}_windows.csv", index=False)
    held_out = _unseen_windows(40, seed=99, start="2025-04-01 09:00:00")

    done = subprocess.run(
        [str(Path(sys.executable).parent / "flywheel"), "materialize", "activity"],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = next(line for line in done.stdout.splitlines() if line.startswith("activity "))
    assert " v1 " in summary, done.stdout

    mlflow.set_tracking_uri(flywheel_env.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model("models:/activity@champion")
    predictions = model.predict(held_out.drop(columns=[LABEL_COLUMN]))
    assert set(UNSEEN) <= set(predictions.columns)  # classes came from the data
    assert np.allclose(predictions[list(UNSEEN)].sum(axis=1), 1.0)
    accuracy = (predictions["prediction"] == held_out[LABEL_COLUMN]).mean()
    print(f"\nunseen data set: champion accuracy on 40 held-out windows = {accuracy:.3f}")
    assert accuracy > 0.8  # four well-separated activities; chance is 0.25

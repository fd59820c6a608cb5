"""The activity graph through Dagster: landing sensor on S3 (moto), per-file ingest with quarantine,
a file rewritten between the sensor's tick and its run, a file deleted from the landing, watch data
landed in m/s² and deg/s, and a whole ``flywheel materialize activity`` on a smartwatch data set the
code has never seen."""

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
WINDOWS_KEY = "activity/p1_windows_test.csv"


def _first_windows(count: int) -> bytes:
    """The header and the first ``count`` windows of the real window file."""
    return b"".join(WINDOWS_FILE.read_bytes().splitlines(keepends=True)[: count + 1])


def _meta(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


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
    store.write_bytes(WINDOWS_KEY, WINDOWS_FILE.read_bytes())
    store.write_bytes("activity/broken_windows.csv", broken)
    store.write_bytes("activity/notes.csv", b"who,what\nme,something\n")
    store.write_bytes("activity/activity_mapping.csv", b"original,mapped\nEat,Meal\n")  # configuration
    store.write_bytes("activity/activity_sensors.json", b'{"acceleration_unit": "g"}')  # configuration

    first = _tick(activity.use_case.landing_sensor, instance, store, None)
    keys = sorted(r.partition_key for r in first.run_requests)
    assert keys == ["activity/broken_windows.csv", "activity/notes.csv", "activity/p1_windows_test.csv"]
    second = _tick(activity.use_case.landing_sensor, instance, store, first.cursor)
    assert not getattr(second, "run_requests", None)

    job = defs.resolve_job_def("activity_ingest")
    meta = {}
    for request in first.run_requests:
        result = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        )
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

    assert good["version_changed"] is False and good["object_version"] == store.info(WINDOWS_KEY).version
    assert good["units"].startswith("none")

    # Re-ingesting a file rewrites its rows: no duplicates.
    job.execute_in_process(instance=instance, partition_key=WINDOWS_KEY)
    windows = pd.read_parquet(s3_env.home / "tables" / "activity" / "windows")
    assert len(windows) == 22 + 19 and windows["window_id"].is_unique

    # Rewritten after the sensor saw it and before its run: the run ingests the new version whole and
    # says so; the sensor then asks for that version, whose run rewrites the same slot.
    store.write_bytes(WINDOWS_KEY, _first_windows(15))
    changed = _tick(activity.use_case.landing_sensor, instance, store, second.cursor)
    [request] = changed.run_requests
    store.write_bytes(WINDOWS_KEY, _first_windows(10))
    late = _meta(job.execute_in_process(instance=instance, partition_key=WINDOWS_KEY, tags=request.tags))
    assert late["version_changed"] is True and late["rows_in"] == late["rows_kept"] == 10
    assert late["requested_version"] == request.tags["flywheel/object_version"] != late["object_version"]
    [newest] = _tick(activity.use_case.landing_sensor, instance, store, changed.cursor).run_requests
    assert (newest.partition_key, newest.tags["flywheel/object_version"]) == (
        WINDOWS_KEY,
        late["object_version"],
    )
    again = _meta(job.execute_in_process(instance=instance, partition_key=WINDOWS_KEY, tags=newest.tags))
    assert again["version_changed"] is False and again["rows_kept"] == 10
    windows = pd.read_parquet(s3_env.home / "tables" / "activity" / "windows")
    assert len(windows) == 10 + 19 and windows["window_id"].is_unique


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


# --- deleted files and the units of the landed data ------------------------------------------------


def _windows_step(instance: DagsterInstance, checks: bool = False, raise_on_error: bool = True):
    """Materialize ``activity_windows`` (and its data checks) as the training job would."""
    from dagster import materialize

    from assets.activity import definitions as activity
    from resources import build_resources

    assets = [activity.activity_windows, *(activity.data_checks if checks else [])]
    return materialize(assets, instance=instance, resources=build_resources(), raise_on_error=raise_on_error)


def _step_error(result) -> str:
    """What the failed step of a run (executed with ``raise_on_error=False``) said."""
    from dagster import DagsterEventType

    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    return failure.event_specific_data.error.to_string()


def _ingest_all(instance: DagsterInstance, store: ObjectStoreResource, cursor: str | None = None) -> str:
    """One landing-sensor tick and the runs it requests; returns the next cursor."""
    from assets.activity import definitions as activity
    from orchestration.definitions import build_definitions

    job = build_definitions().resolve_job_def("activity_ingest")
    result = _tick(activity.use_case.landing_sensor, instance, store, cursor)
    for request in getattr(result, "run_requests", None) or []:
        job.execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags)
    return result.cursor


def test_a_deleted_file_leaves_the_clean_tables(flywheel_env: Settings) -> None:
    from orchestration.definitions import build_definitions

    store = ObjectStoreResource(landing=flywheel_env.landing)
    instance = DagsterInstance.get()
    store.write_bytes(WINDOWS_KEY, WINDOWS_FILE.read_bytes())
    store.write_bytes("activity/extra_windows.csv", _first_windows(10))  # another participant's 10
    _ingest_all(instance, store)
    first = _meta(_windows_step(instance))
    assert (first["labelled_windows"], first["files_removed"], first["windows_removed"]) == (32, [], 0)

    store.delete("activity/extra_windows.csv")
    # A run of the deleted file's partition (queued before the deletion) fails, saying why.
    job = build_definitions().resolve_job_def("activity_ingest")
    gone = job.execute_in_process(
        instance=instance, partition_key="activity/extra_windows.csv", raise_on_error=False
    )
    assert not gone.success and "extra_windows.csv is no longer in the landing" in _step_error(gone)

    meta = _meta(_windows_step(instance))
    assert meta["files_removed"] == ["activity/extra_windows.csv"] and meta["windows_removed"] == 10
    assert meta["partitions_removed"] == ["activity/extra_windows.csv"]
    assert meta["labelled_windows"] == 22
    tables = flywheel_env.home / "tables" / "activity"
    assert not list(tables.glob("*/slot=extra_windows*")) and list(
        tables.glob("windows/slot=p1_windows_test*")
    )
    clean = pd.read_parquet(tables / "clean" / "windows.parquet")
    assert set(clean["participant"]) == {"p1_windows_test"} and len(clean) == 22
    assert instance.get_dynamic_partitions("activity_files") == [WINDOWS_KEY]
    again = _meta(_windows_step(instance))  # removed once
    assert (again["files_removed"], again["windows_removed"], again["labelled_windows"]) == ([], 0, 22)


def _in_watch_units(frame: pd.DataFrame) -> pd.DataFrame:
    """The windows as an Android watch would record them: acceleration in m/s², rotation in deg/s."""
    out = frame.copy()
    for column in out.columns:
        if column.startswith("user_acceleration_"):
            out[column] = out[column] * 9.80665
        elif column.startswith("rotation_rate_"):
            out[column] = out[column] * 180 / np.pi
    return out


def test_units_file_converts_watch_units_for_checks_features_and_the_model(flywheel_env: Settings) -> None:
    import mlflow.pyfunc

    from assets.activity import definitions as activity
    from assets.activity.features import window_features
    from assets.activity.model import train_hist_gradient_boosting
    from assets.activity.units import SensorUnits
    from assets.lazy import resolve
    from orchestration.definitions import build_definitions

    store = ObjectStoreResource(landing=flywheel_env.landing)
    instance = DagsterInstance.get()
    original = pd.read_csv(WINDOWS_FILE, dtype={"stamp": str})
    watch = _in_watch_units(original)
    key = "activity/watch_windows.csv"
    store.write_bytes(key, watch.to_csv(index=False).encode())
    cursor = _ingest_all(instance, store)

    # Without the units file: the range check fails, naming the largest value and the file.
    result = _windows_step(instance, checks=True, raise_on_error=False)  # a blocking check fails
    ranges = {e.check_name: e for e in result.get_asset_check_evaluations()}["activity_sensor_ranges"]
    largest = watch.filter(regex="^rotation_rate_").abs().max().max()
    assert not ranges.passed
    assert f"{largest:.6g}" in ranges.description and "activity_sensors.json" in ranges.description
    assert '"rotation_unit": "deg/s"' in ranges.description  # the values fit deg/s
    assert ranges.metadata["message"].value == ranges.description

    # Declared: configuration, not data (no run requested); the files ingested before must be redone.
    store.write_bytes(
        "activity/activity_sensors.json", b'{"acceleration_unit": "m/s2", "rotation_unit": "deg/s"}'
    )
    assert not getattr(_tick(activity.use_case.landing_sensor, instance, store, cursor), "run_requests", None)
    stale = _windows_step(instance, raise_on_error=False)
    assert not stale.success
    assert "watch_windows.csv" in _step_error(stale) and "Ingest them again" in _step_error(stale)
    job = build_definitions().resolve_job_def("activity_ingest")
    ingest = _meta(job.execute_in_process(instance=instance, partition_key=key))
    assert "m/s2 → g" in ingest["units"] and "deg/s → rad/s" in ingest["units"]
    assert ingest["units_declared_in"].endswith("activity/activity_sensors.json")

    # Converted: every check passes, and the windows and their features are the original ones.
    result = _windows_step(instance, checks=True)
    assert all(e.passed for e in result.get_asset_check_evaluations())
    clean = pd.read_parquet(flywheel_env.home / "tables" / "activity" / "clean" / "windows.parquet")
    clean = clean.sort_values("stamp", ignore_index=True)
    reference = original.sort_values("stamp", ignore_index=True)
    signals = [c for c in original.columns if c.startswith(("user_acceleration_", "rotation_rate_"))]
    np.testing.assert_allclose(clean[signals].to_numpy(), reference[signals].to_numpy(), rtol=1e-12)
    reference["stamp"] = pd.to_datetime(reference["stamp"])
    pd.testing.assert_frame_equal(window_features(clean), window_features(reference), rtol=1e-9, atol=1e-12)
    assert set(clean["source_acceleration_unit"]) == {"m/s2"} and set(clean["source_rotation_unit"]) == {
        "deg/s"
    }

    # The lifecycle scores rows as the watches send them: back in m/s² and deg/s.
    records = resolve(activity.SPEC.to_records)(clean)
    np.testing.assert_allclose(
        records[signals].to_numpy(), _in_watch_units(reference)[signals].to_numpy(), rtol=1e-12
    )

    # The model trained on the m/s² table scores m/s² records as a g-trained one scores g records.
    labels = sorted(clean[LABEL_COLUMN].unique())
    watch_model = train_hist_gradient_boosting(clean, labels, seed=0)
    assert watch_model.input_units == SensorUnits("m/s2", "deg/s")
    g_table = clean.drop(columns=["source_acceleration_unit", "source_rotation_unit"])
    g_table[signals] = reference[signals].to_numpy()
    g_model = train_hist_gradient_boosting(g_table, labels, seed=0)
    assert g_model.input_units == SensorUnits()
    mlflow.pyfunc.save_model(
        str(flywheel_env.home / "watch-model"), python_model=watch_model, pip_requirements=["mlflow"]
    )
    served = mlflow.pyfunc.load_model(str(flywheel_env.home / "watch-model"))  # units survive the registry
    as_sent = watch.sort_values("stamp", ignore_index=True).drop(columns=[LABEL_COLUMN])
    as_sent = as_sent.astype(object).where(as_sent.notna(), None)  # as JSON would carry them
    from_watch = served.predict(as_sent.assign(window_id=clean["window_id"]))
    from_g = g_model.predict(
        None, reference.drop(columns=[LABEL_COLUMN]).assign(window_id=clean["window_id"])
    )
    np.testing.assert_allclose(from_watch[labels].to_numpy(), from_g[labels].to_numpy(), atol=1e-9)
    assert (from_watch["prediction"] == from_g["prediction"]).all()

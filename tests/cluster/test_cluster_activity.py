"""Activity on the cluster: the landing → ingest path with the cleaning as ``spark-submit`` jobs
through Dagster Pipes on the Spark standalone cluster, runs stored in Postgres; and the suite's whole
``flywheel materialize activity`` (pipeline + lifecycle, MLflow on Postgres) run unchanged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import requests
from dagster import DagsterInstance
from test_activity_pipeline import (  # noqa: F401 - collected here: runs against the cluster
    WINDOWS_FILE,
    _malformed_windows,
    _meta,
    _tick,
    test_materialize_on_an_unseen_data_set_gives_a_working_champion,
)

from orchestration.infra.spark_cluster import SparkStandalone
from orchestration.settings import Settings
from resources.object_store import ObjectStoreResource

pytestmark = pytest.mark.cluster


def test_ingest_runs_as_pipes_jobs_on_the_standalone_cluster(
    flywheel_env: Settings, spark_cluster: SparkStandalone
) -> None:
    from assets.activity import definitions as activity
    from orchestration.definitions import build_definitions

    assert flywheel_env.spark_launch == "pipes" and flywheel_env.spark_master.startswith("spark://")
    store = ObjectStoreResource(landing=flywheel_env.landing)
    broken, reasons = _malformed_windows()
    store.write_bytes("activity/p1_windows_test.csv", WINDOWS_FILE.read_bytes())
    store.write_bytes("activity/broken_windows.csv", broken)
    instance = DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"

    first = _tick(activity.landing_sensor, instance, store, None)
    job = build_definitions().resolve_job_def("activity_ingest")
    meta = {}
    for request in first.run_requests:
        result = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        )
        assert result.success
        meta[request.partition_key] = _meta(result)

    good, bad = meta["activity/p1_windows_test.csv"], meta["activity/broken_windows.csv"]
    lines = len(WINDOWS_FILE.read_text().splitlines()) - 1
    for m in (good, bad):
        assert m["spark_launch"] == "pipes"
        assert m["spark_master"] == flywheel_env.spark_master  # reported by the job from its session
        assert m["rows_in"] == m["rows_kept"] + m["rows_quarantined"]
    assert good["rows_in"] == lines and good["rows_quarantined"] == 0
    assert bad["rows_quarantined"] == sum(reasons.values())
    for reason, count in reasons.items():
        assert bad[f"quarantined_{reason}"] == count
    # What the job reported as written is there, with every kept window.
    windows = pd.read_parquet(Path(good["outputs"]["windows"]))
    assert len(windows) == good["windows"] == good["rows_kept"]
    quarantine = pd.read_parquet(Path(bad["outputs"]["quarantine"]))
    assert sorted(quarantine["reason"].value_counts().items()) == sorted(reasons.items())

    # The jobs ran as their own applications on the standalone master, not in this process.
    info = requests.get(f"http://127.0.0.1:{spark_cluster._info()['webui_port']}/json/", timeout=5).json()
    names = [app["name"] for app in info.get("completedapps", [])]
    assert names.count("flywheel-activity_clean") >= 2
    # And the runs are in Postgres.
    assert len(instance.get_runs()) == len(first.run_requests)

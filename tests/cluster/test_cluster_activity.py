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
from orchestration.settings import Settings, get_settings
from resources.object_store import ObjectStoreResource

pytestmark = pytest.mark.cluster


def test_ingest_runs_as_pipes_jobs_on_the_standalone_cluster(
    flywheel_env: Settings, spark_cluster: SparkStandalone
) -> None:
    store = ObjectStoreResource(landing=flywheel_env.landing)
    meta = _ingest_through_pipes(flywheel_env, store, spark_cluster)
    assert all("read_from" not in m for m in meta.values())  # a local landing: a private snapshot


def test_landing_on_s3_is_read_by_spark_through_s3a_without_a_local_copy(
    s3_env: Settings, spark_cluster: SparkStandalone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hadoop-aws (pyspark's Hadoop version, resolved once from Maven Central into the Ivy cache)
    lets the Pipes job's executors read the objects from the moto server over HTTP themselves."""
    monkeypatch.setenv("FLYWHEEL_S3_DIRECT", "on")
    settings = get_settings()
    store = ObjectStoreResource(landing=settings.landing, endpoint_url=settings.aws_endpoint_url)
    meta = _ingest_through_pipes(settings, store, spark_cluster)
    for key, m in meta.items():
        assert m["read_from"] == "s3a://" + store.uri(key).removeprefix("s3://")
    copies = settings.home / "cache" / "s3"
    assert not copies.exists() or not [p for p in copies.rglob("*") if p.is_file()]


def _ingest_through_pipes(
    settings: Settings, store: ObjectStoreResource, spark_cluster: SparkStandalone
) -> dict[str, dict]:
    """Land the real window file and a broken copy, tick the landing sensor, run the ingests; check
    the counts and outputs each Pipes job reported. Returns the metadata per landed key."""
    from assets.activity import definitions as activity
    from orchestration.definitions import build_definitions

    assert settings.spark_launch == "pipes" and settings.spark_master.startswith("spark://")
    before = _completed_apps(spark_cluster)
    broken, reasons = _malformed_windows()
    store.write_bytes("activity/p1_windows_test.csv", WINDOWS_FILE.read_bytes())
    store.write_bytes("activity/broken_windows.csv", broken)
    instance = DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"

    first = _tick(activity.use_case.landing_sensor, instance, store, None)
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
        assert m["spark_master"] == settings.spark_master  # reported by the job from its session
        assert m["rows_in"] == m["rows_kept"] + m["rows_quarantined"]
    assert good["rows_in"] == lines and good["rows_quarantined"] == 0
    assert bad["rows_quarantined"] == sum(reasons.values())
    for reason, count in reasons.items():
        assert bad[f"quarantined_{reason}"] == count
    # What the job reported as written is there, with every kept window.
    windows = pd.read_parquet(Path(good["outputs"]["windows"]))  # written by the job's executors
    assert len(windows) == good["windows"] == good["rows_kept"]
    quarantine = pd.read_parquet(Path(bad["outputs"]["quarantine"]))
    assert sorted(quarantine["reason"].value_counts().items()) == sorted(reasons.items())

    # The jobs ran as their own applications on the standalone master, not in this process.
    assert _completed_apps(spark_cluster) - before == 2
    # And the runs are in Postgres.
    assert len(instance.get_runs()) == len(first.run_requests)
    return meta


def _completed_apps(spark_cluster: SparkStandalone, name: str = "flywheel-activity_clean") -> int:
    """Applications called ``name`` that the standalone master has seen finish."""
    info = requests.get(f"http://127.0.0.1:{spark_cluster._info()['webui_port']}/json/", timeout=5).json()
    return [app["name"] for app in info.get("completedapps", [])].count(name)

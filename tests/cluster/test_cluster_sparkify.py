"""Sparkify on the cluster: daily log files landed on S3 (moto over HTTP), the landing sensor's runs
clean each file as a ``spark-submit`` job through Dagster Pipes on the Spark standalone cluster, whose
executors read the objects themselves through ``s3a://`` (no local copy), runs stored in Postgres."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance
from test_activity_pipeline import _meta, _tick
from test_cluster_activity import _completed_apps

from assets.sparkify.generator import generate
from orchestration.infra.spark_cluster import SparkStandalone
from orchestration.settings import Settings, get_settings
from resources.object_store import ObjectStoreResource

pytestmark = pytest.mark.cluster

BAD_LINES = ["{broken", json.dumps({"ts": 1, "auth": "Logged In", "userId": ""})]


def test_daily_files_on_s3_are_cleaned_by_pipes_jobs_reading_s3a(
    s3_env: Settings, spark_cluster: SparkStandalone, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from assets.sparkify import definitions as sparkify
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("FLYWHEEL_S3_DIRECT", "on")
    settings = get_settings()
    assert settings.spark_launch == "pipes" and settings.spark_master.startswith("spark://")
    store = ObjectStoreResource(landing=settings.landing, endpoint_url=settings.aws_endpoint_url)
    generate(tmp_path, 12, 1.5, seed=5, start=dt.datetime(2018, 10, 1, tzinfo=dt.UTC))
    days = sorted((tmp_path / "log_data").rglob("*.json"))
    lines = {}
    for i, path in enumerate(days):
        text = path.read_text().rstrip("\n").split("\n") + (BAD_LINES if i == 0 else [])
        key = f"sparkify/{path.relative_to(tmp_path).as_posix()}"
        store.write_bytes(key, ("\n".join(text) + "\n").encode())
        lines[key] = len(text)
    bad_key = f"sparkify/{days[0].relative_to(tmp_path).as_posix()}"
    before = _completed_apps(spark_cluster, "flywheel-sparkify_clean")

    instance = DagsterInstance.get()
    first = _tick(sparkify.use_case.landing_sensor, instance, store, None)
    assert sorted(r.partition_key for r in first.run_requests) == sorted(lines)
    job = build_definitions().resolve_job_def("sparkify_ingest")
    for request in first.run_requests:
        key = request.partition_key
        result = job.execute_in_process(instance=instance, partition_key=key, tags=request.tags)
        assert result.success
        meta = _meta(result)
        assert meta["spark_launch"] == "pipes" and meta["spark_master"] == settings.spark_master
        assert meta["read_from"] == "s3a://" + store.uri(key).removeprefix("s3://")
        assert meta["rows_in"] == lines[key] == meta["rows_kept"] + meta["rows_quarantined"]
        assert meta["rows_quarantined"] == (len(BAD_LINES) if key == bad_key else 0)
        events = pd.read_parquet(meta["outputs"]["events_slots"])  # written by the job's executors
        assert len(events) == meta["user_events"] > 0
    assert _completed_apps(spark_cluster, "flywheel-sparkify_clean") - before == len(lines)
    copies = settings.home / "cache" / "s3"
    assert not copies.exists() or not [p for p in copies.rglob("*") if p.is_file()]
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"

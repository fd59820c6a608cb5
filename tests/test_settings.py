"""Settings: embedded defaults under FLYWHEEL_HOME, and each endpoint one variable away."""

from pathlib import Path

import pytest

from orchestration.settings import export_defaults, get_settings

ALL_VARS = (
    "FLYWHEEL_HOME", "KAFKA_BOOTSTRAP_SERVERS", "MLFLOW_TRACKING_URI", "FLYWHEEL_LANDING",
    "AWS_ENDPOINT_URL", "SPARK_MASTER", "FLYWHEEL_DATABASE_URL", "DAGSTER_HOME",
)  # fmt: skip


def test_defaults_live_under_one_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    s = get_settings()
    home = tmp_path / ".flywheel"
    assert s.home == home
    assert s.mlflow_tracking_uri == f"sqlite:///{home / 'mlflow.db'}"
    assert s.landing == str(home / "landing")
    assert s.database_url == f"sqlite:///{home / 'annotations.db'}"
    assert s.dagster_home == home / "dagster"
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.spark_master == "local[*]"
    assert s.aws_endpoint_url is None
    assert s.landing_for("disaster") == str(home / "landing" / "disaster")


def test_every_endpoint_is_one_variable_away(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = {
        "FLYWHEEL_HOME": str(tmp_path / "h"),
        "KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "FLYWHEEL_LANDING": "s3://raw-bucket/flywheel",
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "SPARK_MASTER": "spark://spark-master:7077",
        "FLYWHEEL_DATABASE_URL": "postgresql://u:p@db/flywheel",
        "DAGSTER_HOME": str(tmp_path / "dh"),
    }
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)
    s = get_settings()
    assert s.kafka_bootstrap_servers == overrides["KAFKA_BOOTSTRAP_SERVERS"]
    assert s.mlflow_tracking_uri == overrides["MLFLOW_TRACKING_URI"]
    assert s.landing_is_s3 and s.landing_for("activity") == "s3://raw-bucket/flywheel/activity"
    assert s.aws_endpoint_url == overrides["AWS_ENDPOINT_URL"]
    assert s.spark_master == overrides["SPARK_MASTER"]
    assert s.database_url == overrides["FLYWHEEL_DATABASE_URL"]
    assert s.dagster_home == tmp_path / "dh"
    assert s.as_environment()["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_export_defaults_fills_gaps_without_overriding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SPARK_MASTER", "local[1]")
    import os

    export_defaults()
    assert os.environ["SPARK_MASTER"] == "local[1]"
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    assert (tmp_path / "home" / "dagster").is_dir() and (tmp_path / "home" / "landing").is_dir()


def test_bad_numbers_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_KAFKA_PARTITIONS", "two")
    with pytest.raises(ValueError, match="FLYWHEEL_KAFKA_PARTITIONS"):
        get_settings()

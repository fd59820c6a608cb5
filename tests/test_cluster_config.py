"""What the cluster switches write and pass, checked without starting anything: the KRaft node
configuration of a three-broker cluster, topic durability, the s3a:// Spark settings, the
spark-submit command of a Pipes job, and the settings that select them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orchestration.infra.kafka_broker import ClusterLayout, KafkaBroker, KafkaCluster
from orchestration.instance import instance_yaml
from orchestration.settings import Settings, get_settings
from resources.kafka import durability_config
from resources.spark import pyspark_hadoop_version, s3a_config, s3a_packages


def _props(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_three_nodes_share_one_quorum_and_replicate_internal_topics(flywheel_env: Settings) -> None:
    layout = ClusterLayout((19092, 19093, 19094), (19095, 19096, 19097), "abc")
    assert (layout.replication, layout.min_insync) == (3, 2)
    assert (
        ClusterLayout((1, 2), (3, 4), "x").replication,
        ClusterLayout((1, 2), (3, 4), "x").min_insync,
    ) == (2, 1)
    node = KafkaBroker(flywheel_env, node_id=2, layout=layout)
    node.write_config()
    props = _props(node.config_file)
    assert node.state_dir == flywheel_env.home / "kafka" / "node-2"
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19095,2@127.0.0.1:19096,3@127.0.0.1:19097"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19093,CONTROLLER://127.0.0.1:19096"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
        assert props[key] == "3"
    assert props["min.insync.replicas"] == "2" and props["transaction.state.log.min.isr"] == "2"


def test_a_cluster_keeps_consecutive_ports_and_its_layout(
    flywheel_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:29092")
    cluster = KafkaCluster(get_settings(), size=3)
    assert cluster.bootstrap == "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
    assert KafkaCluster(get_settings(), size=1).layout is None  # one broker: the plain KafkaBroker


def test_topic_durability_follows_the_replica_count() -> None:
    assert durability_config(1) == {} and durability_config(2) == {}
    assert durability_config(3) == {"min.insync.replicas": "2"}


def test_s3a_settings_match_pyspark_and_reach_the_executors() -> None:
    import pyspark

    version = pyspark_hadoop_version()
    jars = Path(pyspark.__file__).parent / "jars"
    assert (jars / f"hadoop-client-api-{version}.jar").exists()
    assert s3a_packages() == [f"org.apache.hadoop:hadoop-aws:{version}"]
    conf = s3a_config("/cache/ivy", {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    assert conf["spark.jars.ivy"] == "/cache/ivy"
    assert conf["spark.executorEnv.AWS_ACCESS_KEY_ID"] == "k"
    assert conf["spark.hadoop.fs.s3a.change.detection.mode"] == "server"


def test_a_pipes_job_is_submitted_with_the_venv_python_and_the_settings(
    flywheel_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resources.spark_pipes import JOBS_DIR, spark_submit_command

    monkeypatch.setenv("SPARK_MASTER", "spark://127.0.0.1:7077")
    monkeypatch.setenv("FLYWHEEL_S3_DIRECT", "on")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    command = spark_submit_command(get_settings(), JOBS_DIR / "activity_clean.py", "flywheel-activity_clean")
    assert command[0].endswith("bin/spark-submit") and command[1:3] == ["--master", "spark://127.0.0.1:7077"]
    confs = dict(command[i + 1].split("=", 1) for i, a in enumerate(command) if a == "--conf")
    assert confs["spark.pyspark.python"] == sys.executable
    assert confs["spark.jars.packages"].startswith("org.apache.hadoop:hadoop-aws:")
    assert confs["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert command[-1] == str(JOBS_DIR / "activity_clean.py") and Path(command[-1]).exists()


def test_no_secret_reaches_the_spark_submit_command_line(
    flywheel_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 (12): with S3 direct on, the AWS secret and session token went into ``--conf
    spark.executorEnv.*`` arguments, which any local user reads with ``ps``."""
    import stat

    from resources.spark_pipes import JOBS_DIR, spark_submit_command

    monkeypatch.setenv("FLYWHEEL_S3_DIRECT", "on")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-value-that-must-not-leak")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-that-must-not-leak")
    command = spark_submit_command(get_settings(), JOBS_DIR / "sparkify_clean.py", "flywheel-sparkify_clean")
    line = " ".join(command)
    assert "secret-value-that-must-not-leak" not in line and "session-token-that-must-not-leak" not in line
    assert "AKIAEXAMPLEKEYID0000" not in line
    properties = Path(command[command.index("--properties-file") + 1])
    assert stat.S_IMODE(properties.stat().st_mode) == 0o600
    text = properties.read_text()
    assert "spark.executorEnv.AWS_SECRET_ACCESS_KEY secret-value-that-must-not-leak" in text
    assert "spark.executorEnv.AWS_SESSION_TOKEN session-token-that-must-not-leak" in text


def test_launch_setting_is_checked_and_the_dagster_url_names_its_driver(
    flywheel_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert get_settings().spark_launch == "session"
    monkeypatch.setenv("FLYWHEEL_SPARK_LAUNCH", "emr")
    with pytest.raises(ValueError, match="FLYWHEEL_SPARK_LAUNCH"):
        get_settings()
    monkeypatch.setenv("FLYWHEEL_SPARK_LAUNCH", "pipes")
    assert get_settings().spark_launch == "pipes"
    assert "storage:" not in instance_yaml(get_settings())  # SQLite: today's file, unchanged
    monkeypatch.setenv("FLYWHEEL_DAGSTER_DATABASE_URL", "postgresql://u@db:5432/dagster")
    settings = get_settings()
    assert settings.dagster_database_url == "postgresql+psycopg2://u@db:5432/dagster"
    assert "postgres_url:\n      env: FLYWHEEL_DAGSTER_DATABASE_URL" in instance_yaml(settings)

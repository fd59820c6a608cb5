"""``make test-cluster``: the integration tests that matter for each engine, run against the engines a
deployment past one machine uses, each started once per session by the project's own infra code:

* PostgreSQL (``postgres_server``, from tests/conftest.py): the Dagster instance's storage (the
  shipped ``dagster.yaml`` in its Postgres form), MLflow's backend store, the annotation store — a
  fresh database of each per test, copied from migrated templates (``CREATE DATABASE ... TEMPLATE``);
* a three-broker KRaft Kafka cluster (``kafka_cluster``): topics replicated 3 times,
  ``min.insync.replicas=2``;
* a Spark standalone master with two workers (``spark_master``), with ``FLYWHEEL_SPARK_LAUNCH=pipes``:
  the activity cleaning runs as ``spark-submit`` jobs through Dagster Pipes.

The fixtures ``flywheel_env`` and ``kafka_env`` are overridden here, so the suite's own pipeline,
loop and lifecycle tests (imported by the modules of this folder) run unchanged against the cluster.
Every test here carries the ``cluster`` marker, which plain ``make test`` deselects.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from isolation import point_mlflow_at

from orchestration.infra.kafka_broker import KafkaCluster, free_port_block
from orchestration.infra.postgres import PostgresServer
from orchestration.infra.spark_cluster import SparkStandalone
from orchestration.settings import Settings, export_defaults, get_settings

BROKERS = 3
SPARK_WORKERS = 2


def _settings_for(home: Path, **env: str) -> Settings:
    old = dict(os.environ)
    try:
        os.environ.update({"FLYWHEEL_HOME": str(home), **env})
        return get_settings()
    finally:
        os.environ.clear()
        os.environ.update(old)


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three combined controller+broker nodes in one quorum, as ``flywheel infra up --brokers 3``."""
    home = tmp_path_factory.mktemp("kafka-cluster-home")
    settings = _settings_for(
        home,
        # Brokers and controllers on six consecutive ports no outgoing connection can be holding.
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port_block(2 * BROKERS)}",
        FLYWHEEL_KAFKA_HEAP="384m",
    )
    cluster = KafkaCluster(settings, size=BROKERS)
    cluster.start(timeout=180, log=lambda _m: None)
    try:
        yield cluster
    finally:
        cluster.stop(log=lambda _m: None)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkStandalone]:
    """A Spark standalone master and two workers, as ``flywheel infra up --spark-workers 2``."""
    home = tmp_path_factory.mktemp("spark-cluster-home")
    cluster = SparkStandalone(_settings_for(home))
    cluster.start(workers=SPARK_WORKERS, timeout=180, log=lambda _m: None)
    try:
        yield cluster
    finally:
        cluster.stop(log=lambda _m: None)


@pytest.fixture(scope="session")
def spark_master(spark_cluster: SparkStandalone) -> str:
    return str(spark_cluster.master_url)


def _migrate_in_a_child(code: str) -> None:
    """Create a store's schema in another process: its connections must be gone before the database
    can serve as a template."""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def postgres_templates(postgres_server: PostgresServer) -> dict[str, str]:
    """Databases with MLflow's and Dagster's schemas already migrated, copied per test."""
    mlflow_url = postgres_server.create_database("tpl_mlflow")
    _migrate_in_a_child(
        f"from mlflow.tracking import MlflowClient; MlflowClient({mlflow_url!r}).search_experiments()"
    )
    dagster_url = postgres_server.create_database("tpl_dagster")
    dagster_url = dagster_url.replace("postgresql://", "postgresql+psycopg2://")
    _migrate_in_a_child(
        "import dagster_postgres as pg\n"
        "for cls in (pg.PostgresRunStorage, pg.PostgresEventLogStorage, pg.PostgresScheduleStorage):\n"
        f"    cls({dagster_url!r})"
    )
    return {"mlflow": "tpl_mlflow", "dagster": "tpl_dagster"}


def _database_from(server: PostgresServer, name: str, template: str | None = None) -> str:
    conn = server.connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    finally:
        conn.close()
    return server.url(name)


@pytest.fixture
def flywheel_env(
    flywheel_env: Settings,
    postgres_server: PostgresServer,
    postgres_templates: dict[str, str],
    spark_master: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """The suite's ``flywheel_env`` with every store on Postgres, Spark on the standalone cluster
    and Spark ingests launched through Pipes."""
    tag = uuid.uuid4().hex[:10]
    values = {
        "FLYWHEEL_DATABASE_URL": _database_from(postgres_server, f"t{tag}_flywheel"),
        "MLFLOW_TRACKING_URI": _database_from(
            postgres_server, f"t{tag}_mlflow", postgres_templates["mlflow"]
        ),
        "FLYWHEEL_DAGSTER_DATABASE_URL": _database_from(
            postgres_server, f"t{tag}_dagster", postgres_templates["dagster"]
        ),
        "SPARK_MASTER": spark_master,
        "FLYWHEEL_SPARK_LAUNCH": "pipes",
        "PYSPARK_PYTHON": sys.executable,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    (flywheel_env.home / "mlflow.db").unlink(missing_ok=True)  # nothing may fall back to SQLite
    point_mlflow_at(values["MLFLOW_TRACKING_URI"])
    settings = export_defaults()  # the shipped dagster.yaml, in its Postgres form
    assert "postgres" in (settings.dagster_home / "dagster.yaml").read_text()
    yield settings
    assert not stray_sqlite(settings.home), "a store fell back to SQLite instead of Postgres"


@pytest.fixture
def kafka_env(
    flywheel_env: Settings, kafka_cluster: KafkaCluster, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """``flywheel_env`` with ``KAFKA_BOOTSTRAP_SERVERS`` listing the three brokers."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_cluster.bootstrap)
    return get_settings()


def stray_sqlite(home: Path) -> list[Path]:
    """SQLite files under a test's home: a store that fell back to its embedded default."""
    return sorted(p for p in home.rglob("*.db") if p.is_file())

"""Fixtures for real servers: one Kafka broker, one Postgres and one moto S3 server per test session
(each started on first use), and an
isolated ``FLYWHEEL_HOME`` (SQLite MLflow, annotation DB, Dagster home, landing) per test.

``make test`` runs two pytest-xdist workers (``-n 2 --dist loadfile``: a module and its module
fixtures stay on one worker). Each worker is its own session, so each has its own broker, Postgres
and Spark session, on free ports and in its own folders; nothing here is shared between them.

The broker is started by the project's own :class:`KafkaBroker` (jars from Maven Central, KRaft),
exactly as ``flywheel infra up`` starts it, on a free port so a developer's broker is untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from isolation import point_mlflow_at

from orchestration.infra.kafka_broker import KafkaBroker, free_port, free_port_block
from orchestration.infra.postgres import PostgresServer
from orchestration.settings import Settings, get_settings, home_environment

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()


def _broker_settings(home: Path, port: int) -> Settings:
    old = dict(os.environ)
    try:
        os.environ["FLYWHEEL_HOME"] = str(home)
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"
        os.environ["FLYWHEEL_KAFKA_HEAP"] = "512m"
        return get_settings()
    finally:
        os.environ.clear()
        os.environ.update(old)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Apache Kafka 4.x broker for the whole session; yields its bootstrap address."""
    home = tmp_path_factory.mktemp("broker-home")
    # Broker and controller ports (port, port + 1) below the range outgoing connections take theirs from.
    broker = KafkaBroker(_broker_settings(home, free_port_block(2)))
    broker.start(timeout=120, log=lambda _msg: None)
    try:
        yield f"{broker.host}:{broker.port}"
    finally:
        broker.stop(log=lambda _msg: None)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session, started by the project's own
    :class:`PostgresServer` exactly as ``flywheel infra up --postgres`` starts it, on a free port.

    Its home is a fresh folder others may traverse: as root the server runs as ``postgres``, who
    cannot enter pytest's root-private temporary folders.
    """
    home = Path(tempfile.mkdtemp(prefix="flywheel-pg-"))
    home.chmod(0o711)
    old = dict(os.environ)
    try:
        os.environ["FLYWHEEL_HOME"] = str(home)
        os.environ.pop("FLYWHEEL_POSTGRES_PORT", None)
        server = PostgresServer(get_settings())
    finally:
        os.environ.clear()
        os.environ.update(old)
    server.start(log=lambda _msg: None)
    try:
        yield server
    finally:
        server.stop(log=lambda _msg: None)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of the session server's ``flywheel`` database (annotations, customers)."""
    return postgres_server.url("flywheel")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server over HTTP on a free port (the one stand-in the project allows)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow SQLite store, made once and copied into each test's home.

    Creating the schema takes MLflow several seconds; copying the file takes none.
    """
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def flywheel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_template_db: Path) -> Settings:
    """Every Flywheel variable pointed at a fresh folder; returns the resolved settings."""
    home = tmp_path / "flywheel"
    home.mkdir()
    shutil.copyfile(mlflow_template_db, home / "mlflow.db")
    values = {
        **home_environment(home),
        "SPARK_MASTER": "local[2]",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nothing listens unless a test asks
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Tests share one broker: each gets its own topics.
        "FLYWHEEL_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "FLYWHEEL_SPARK_PACKAGES"):
        monkeypatch.delenv(name, raising=False)
    (home / "dagster").mkdir(parents=True)
    (home / "landing").mkdir(parents=True)
    point_mlflow_at(values["MLFLOW_TRACKING_URI"])
    return get_settings()


@pytest.fixture
def kafka_env(flywheel_env: Settings, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``flywheel_env`` with ``KAFKA_BOOTSTRAP_SERVERS`` pointing at the session broker."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    return get_settings()


@pytest.fixture
def s3_env(flywheel_env: Settings, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request) -> Settings:
    """``flywheel_env`` with the landing in a fresh bucket on the moto server."""
    import boto3

    bucket = f"landing-{abs(hash(request.node.nodeid)) % 10**10}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("FLYWHEEL_LANDING", f"s3://{bucket}/raw")
    return get_settings()

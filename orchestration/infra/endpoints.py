"""Which configured endpoints answer: what ``flywheel infra status`` prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests
import sqlalchemy as sa

from orchestration.infra.kafka_broker import KafkaBroker, KafkaCluster, port_answers
from orchestration.settings import Settings


@dataclass(frozen=True)
class EndpointStatus:
    name: str
    target: str
    ok: bool
    detail: str


def _mlflow(settings: Settings) -> EndpointStatus:
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        return EndpointStatus(
            "mlflow", uri, True, "embedded SQLite" + ("" if path.exists() else " (created on first use)")
        )
    if uri.startswith(("http://", "https://")):
        try:
            ok = requests.get(f"{uri.rstrip('/')}/health", timeout=3).ok
            return EndpointStatus("mlflow", uri, ok, "answers" if ok else "health check failed")
        except requests.RequestException as exc:
            return EndpointStatus("mlflow", uri, False, f"no answer ({exc.__class__.__name__})")
    return EndpointStatus("mlflow", uri, True, "not checked (scheme handled by MLflow)")


def _database(settings: Settings) -> EndpointStatus:
    try:
        engine = sa.create_engine(settings.database_url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        return EndpointStatus("database", settings.database_url, True, "answers")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return EndpointStatus("database", settings.database_url, False, str(exc).splitlines()[0][:120])


def _landing(settings: Settings) -> EndpointStatus:
    if not settings.landing_is_s3:
        path = Path(settings.landing)
        return EndpointStatus(
            "landing", settings.landing, path.is_dir(), "folder" if path.is_dir() else "missing"
        )
    import boto3

    bucket = settings.landing.split("://", 1)[1].split("/", 1)[0]
    try:
        boto3.client("s3", endpoint_url=settings.aws_endpoint_url).head_bucket(Bucket=bucket)
        return EndpointStatus("landing", settings.landing, True, f"bucket {bucket} answers")
    except Exception as exc:  # noqa: BLE001
        return EndpointStatus("landing", settings.landing, False, str(exc).splitlines()[0][:120])


def _spark(settings: Settings) -> EndpointStatus:
    master = settings.spark_master
    if master.startswith("local"):
        return EndpointStatus("spark", master, True, "embedded (started inside each run)")
    parsed = urlparse(master.replace("spark://", "tcp://"))
    if parsed.hostname and parsed.port:
        ok = port_answers(parsed.hostname, parsed.port, timeout=2)
        return EndpointStatus("spark", master, ok, "answers" if ok else "no answer")
    return EndpointStatus("spark", master, True, "not checked (cluster manager)")


def _dagster(settings: Settings) -> EndpointStatus:
    ok = settings.dagster_home.is_dir()
    ui = port_answers("127.0.0.1", 3000, timeout=0.3)
    detail = ("instance folder" if ok else "missing (created by `flywheel materialize`)") + (
        "; UI answers on :3000" if ui else ""
    )
    return EndpointStatus("dagster", str(settings.dagster_home), ok, detail)


def _postgres(settings: Settings) -> EndpointStatus | None:
    """The embedded Postgres of ``infra up --postgres``, when one was ever initialised here."""
    from orchestration.infra.postgres import PostgresServer

    server = PostgresServer(settings)
    if not server.initialised:
        return None
    status = server.status()
    target = server.url("flywheel") if status.port else str(server.data_dir)
    detail = (
        f"answers; embedded server pid {status.pid}" if status.running else "stopped (`infra up --postgres`)"
    )
    return EndpointStatus("postgres", target, status.running, detail)


def _kafka_cluster(settings: Settings) -> EndpointStatus | None:
    """The nodes of ``infra up --brokers N`` (N > 1), when such a cluster was started here."""
    cluster = KafkaCluster(settings)
    if cluster.layout is None:
        return None
    nodes = cluster.status()
    up = [n for n in nodes if n.answering and n.managed]
    detail = f"{len(up)} of {len(nodes)} brokers answer; pids " + ",".join(str(n.pid) for n in up)
    return EndpointStatus("kafka", cluster.bootstrap, len(up) == len(nodes), detail)


def endpoint_statuses(settings: Settings) -> list[EndpointStatus]:
    cluster = _kafka_cluster(settings)
    if cluster is not None:
        return [cluster, *_others(settings)]
    broker = KafkaBroker(settings).status()
    kafka_detail = (
        f"answers; embedded broker pid {broker.pid}" if broker.managed and broker.answering
        else "answers (external broker)" if broker.answering
        else "no answer (start it with `flywheel infra up`)"
    )  # fmt: skip
    return [EndpointStatus("kafka", broker.bootstrap, broker.answering, kafka_detail), *_others(settings)]


def _others(settings: Settings) -> list[EndpointStatus]:
    statuses = [
        _mlflow(settings),
        _database(settings),
        _landing(settings),
        _spark(settings),
        _dagster(settings),
    ]
    postgres = _postgres(settings)
    return statuses + ([postgres] if postgres else [])

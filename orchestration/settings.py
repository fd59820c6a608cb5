"""Every setting Flywheel reads, in one place.

With no environment at all, everything runs embedded on one machine under one data folder
(``FLYWHEEL_HOME``). Each external endpoint is one environment variable away from a production
cluster: set ``KAFKA_BOOTSTRAP_SERVERS``, ``MLFLOW_TRACKING_URI``, ``FLYWHEEL_LANDING`` (an
``s3://bucket/prefix``), ``AWS_ENDPOINT_URL``, ``SPARK_MASTER`` or ``FLYWHEEL_DATABASE_URL``.

Settings are read afresh on every call of :func:`get_settings` so that a test (or a CLI flag) that
changes the environment is seen at once; nothing is cached at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_KAFKA_VERSION = "4.1.2"
DEFAULT_MAVEN_REPO = "https://repo1.maven.org/maven2"


def _env(name: str) -> str | None:
    """An environment variable, with empty strings treated as unset."""
    value = os.environ.get(name, "").strip()
    return value or None


def _int_env(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def _share_env(name: str, default: float) -> float:
    """A share between 0 and 1 from the environment (a clear error otherwise)."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number between 0 and 1, got {raw!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Paths are absolute; URIs are ready to hand to their clients."""

    home: Path
    kafka_bootstrap_servers: str
    mlflow_tracking_uri: str
    landing: str
    aws_endpoint_url: str | None
    spark_master: str
    database_url: str
    dagster_home: Path
    cache_dir: Path
    kafka_version: str
    kafka_heap: str
    kafka_partitions: int
    #: Replicas of topics Flywheel creates (``FLYWHEEL_KAFKA_REPLICATION``); 0: min(3, brokers).
    kafka_replication: int
    maven_repo: str
    spark_packages: tuple[str, ...] = field(default_factory=tuple)
    #: Prepended to every topic name (``FLYWHEEL_TOPIC_PREFIX``): several deployments (or test runs)
    #: can then share one cluster without reading each other's records.
    topic_prefix: str = ""
    #: Override every use case's scoring batch size / longest wait (``FLYWHEEL_BATCH_SIZE``,
    #: ``FLYWHEEL_BATCH_MAX_WAIT_SECONDS``); None keeps each use case's own.
    batch_size: int | None = None
    batch_max_wait_seconds: float | None = None
    #: Scoring runs of one use case the instance's run queue lets run at once
    #: (``FLYWHEEL_SCORING_CONCURRENCY``); training/retraining is always one at a time per use case.
    scoring_concurrency: int = 2
    #: How often the daemon evaluates each Kafka sensor (``FLYWHEEL_SENSOR_INTERVAL_SECONDS``).
    sensor_interval_seconds: int = 5
    #: ``FLYWHEEL_SENSORS=on`` makes every sensor start running by default (``flywheel serve
    #: --sensors on``); otherwise they start stopped and are switched on in the UI.
    sensors_on: bool = False
    #: How long a failed (retries spent) or never-run scoring partition waits before the rescore
    #: sensor requests it again (``FLYWHEEL_RESCORE_GRACE_SECONDS``).
    rescore_grace_seconds: float = 120.0
    #: Port of the embedded Postgres of ``flywheel infra up --postgres`` (``FLYWHEEL_POSTGRES_PORT``);
    #: None: the port it had last time, else a free one.
    postgres_port: int | None = None
    #: ``FLYWHEEL_DAGSTER_DATABASE_URL`` (``postgresql://...``): the shipped ``dagster.yaml`` keeps the
    #: instance's runs, events and schedules there (dagster-postgres) instead of SQLite files.
    dagster_database_url: str | None = None
    #: ``FLYWHEEL_SPARK_LAUNCH``: ``session`` runs Spark ingests in the run's own SparkSession;
    #: ``pipes`` launches them as ``spark-submit`` jobs through Dagster Pipes (scripts/spark_jobs/).
    spark_launch: str = "session"
    #: Brokers ``flywheel infra up`` starts (``FLYWHEEL_KAFKA_BROKERS``, or ``--brokers``).
    kafka_brokers: int = 1
    #: ``FLYWHEEL_S3_DIRECT=on``: with the landing on S3, Spark reads landed objects straight from
    #: ``s3a://`` (hadoop-aws resolved from Maven Central) instead of a local copy of each.
    s3_direct: bool = False
    #: The time zone of flow readings whose time carries no offset (``FLYWHEEL_FLOW_TIMEZONE``, an
    #: IANA name such as ``Europe/Warsaw``; default UTC).
    flow_timezone: str = "UTC"
    #: The Gravity Spy classes a landed class folder may name (``FLYWHEEL_GRAVITYSPY_CLASSES``,
    #: comma-separated); None: the 22 classes of the Gravity Spy training set.
    gravityspy_classes: tuple[str, ...] | None = None
    #: ``FLYWHEEL_GRAVITYSPY_STREAM_URIS=on``: streamed gravityspy records may name their views by
    #: ``spectrogram_*_uri`` (inside the landing only); off by default, as a record that names a file
    #: makes the scorer read it.
    gravityspy_stream_uris: bool = False
    #: Rescore runs of one scoring partition that may fail before the rescore sensor stops asking
    #: for it and says why (``FLYWHEEL_RESCORE_MAX_ATTEMPTS``).
    rescore_max_attempts: int = 3
    #: Bytes one view named by URI may have (``FLYWHEEL_GRAVITYSPY_URI_MAX_BYTES``; a Gravity Spy PNG
    #: is about 0.2 MB).
    gravityspy_uri_max_bytes: int = 8_000_000
    #: A NAB-layout folder of series no flow model trains on, which the flow gate scores every
    #: challenger on (``FLYWHEEL_FLOW_TRANSFER_DIR``; default ``../shared/data/nab`` beside the project
    #: when present, else the vendored sample ``data/flow/transfer``).
    flow_transfer_dir: Path = Path("data/flow/transfer")
    #: Share of each batch's annotation budget drawn uniformly at random instead of by uncertainty
    #: (``FLYWHEEL_AUDIT_SHARE``, 0–1): the live quality of a champion is measured on these labels
    #: only, the one unbiased sample of what it scores.
    audit_share: float = 0.1
    #: Consecutive drifted batches that make the retrain sensor request a retraining
    #: (``FLYWHEEL_DRIFT_BATCHES``); 0 switches the drift trigger off.
    drift_batches: int = 3

    def topic(self, use_case: str, kind: str = "records") -> str:
        """``<prefix><use_case>.<kind>``: ``records`` in, ``predictions`` and ``deadletter`` out."""
        return f"{self.topic_prefix}{use_case}.{kind}"

    @property
    def landing_is_s3(self) -> bool:
        return self.landing.startswith(("s3://", "s3a://"))

    def landing_for(self, use_case: str) -> str:
        """``<FLYWHEEL_LANDING>/<use_case>``: where a use case's raw files arrive."""
        return f"{self.landing.rstrip('/')}/{use_case}"

    def data_dir(self, *parts: str) -> Path:
        """A folder under ``FLYWHEEL_HOME`` for platform-owned data (tables, queues, caches)."""
        path = self.home.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def as_environment(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        env = {
            "FLYWHEEL_HOME": str(self.home),
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "FLYWHEEL_LANDING": self.landing,
            "SPARK_MASTER": self.spark_master,
            "FLYWHEEL_DATABASE_URL": self.database_url,
            "DAGSTER_HOME": str(self.dagster_home),
        }
        if self.aws_endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.aws_endpoint_url
        if self.dagster_database_url:
            env["FLYWHEEL_DAGSTER_DATABASE_URL"] = self.dagster_database_url
        return env


def home_environment(home: Path) -> dict[str, str]:
    """The variables that put every embedded store under ``home`` (tests, benchmarks, scratch runs)."""
    return {
        "FLYWHEEL_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "FLYWHEEL_LANDING": str(home / "landing"),
        "FLYWHEEL_DATABASE_URL": f"sqlite:///{home / 'annotations.db'}",
        "DAGSTER_HOME": str(home / "dagster"),
    }


def get_settings() -> Settings:
    """Read the environment and fill every gap with the embedded default."""
    home = Path(_env("FLYWHEEL_HOME") or "./.flywheel").expanduser().resolve()
    landing = _env("FLYWHEEL_LANDING") or str(home / "landing")
    if not landing.startswith(("s3://", "s3a://")):
        landing = str(Path(landing).expanduser().resolve())
    packages = tuple(p.strip() for p in (_env("FLYWHEEL_SPARK_PACKAGES") or "").split(",") if p.strip())
    return Settings(
        home=home,
        kafka_bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_KAFKA_BOOTSTRAP,
        mlflow_tracking_uri=_env("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}",
        landing=landing,
        aws_endpoint_url=_env("AWS_ENDPOINT_URL"),
        spark_master=_env("SPARK_MASTER") or "local[*]",
        database_url=_env("FLYWHEEL_DATABASE_URL") or f"sqlite:///{home / 'annotations.db'}",
        dagster_home=Path(_env("DAGSTER_HOME") or home / "dagster").expanduser().resolve(),
        cache_dir=Path(_env("FLYWHEEL_CACHE") or Path.home() / ".cache" / "flywheel").expanduser(),
        kafka_version=_env("FLYWHEEL_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION,
        kafka_heap=_env("FLYWHEEL_KAFKA_HEAP") or "768m",
        kafka_partitions=_int_env("FLYWHEEL_KAFKA_PARTITIONS", 2),
        kafka_replication=_int_env("FLYWHEEL_KAFKA_REPLICATION", 0),
        maven_repo=(_env("FLYWHEEL_MAVEN_REPO") or DEFAULT_MAVEN_REPO).rstrip("/"),
        spark_packages=packages,
        topic_prefix=_env("FLYWHEEL_TOPIC_PREFIX") or "",
        batch_size=_int_env("FLYWHEEL_BATCH_SIZE", 0) or None,
        batch_max_wait_seconds=float(_env("FLYWHEEL_BATCH_MAX_WAIT_SECONDS") or -1)
        if _env("FLYWHEEL_BATCH_MAX_WAIT_SECONDS")
        else None,
        scoring_concurrency=max(1, _int_env("FLYWHEEL_SCORING_CONCURRENCY", 2)),
        sensor_interval_seconds=max(1, _int_env("FLYWHEEL_SENSOR_INTERVAL_SECONDS", 5)),
        sensors_on=(_env("FLYWHEEL_SENSORS") or "off").lower() in ("on", "1", "true", "yes"),
        rescore_grace_seconds=float(_env("FLYWHEEL_RESCORE_GRACE_SECONDS") or 120.0),
        postgres_port=_int_env("FLYWHEEL_POSTGRES_PORT", 0) or None,
        dagster_database_url=_dagster_url(_env("FLYWHEEL_DAGSTER_DATABASE_URL")),
        spark_launch=_spark_launch(_env("FLYWHEEL_SPARK_LAUNCH") or "session"),
        kafka_brokers=max(1, _int_env("FLYWHEEL_KAFKA_BROKERS", 1)),
        s3_direct=(_env("FLYWHEEL_S3_DIRECT") or "off").lower() in ("on", "1", "true", "yes"),
        flow_timezone=_env("FLYWHEEL_FLOW_TIMEZONE") or "UTC",
        gravityspy_classes=tuple(
            c.strip() for c in (_env("FLYWHEEL_GRAVITYSPY_CLASSES") or "").split(",") if c.strip()
        )
        or None,
        gravityspy_stream_uris=(_env("FLYWHEEL_GRAVITYSPY_STREAM_URIS") or "off").lower()
        in ("on", "1", "true", "yes"),
        gravityspy_uri_max_bytes=_int_env("FLYWHEEL_GRAVITYSPY_URI_MAX_BYTES", 8_000_000),
        rescore_max_attempts=max(1, _int_env("FLYWHEEL_RESCORE_MAX_ATTEMPTS", 3)),
        flow_transfer_dir=_flow_transfer_dir(_env("FLYWHEEL_FLOW_TRANSFER_DIR")),
        audit_share=_share_env("FLYWHEEL_AUDIT_SHARE", 0.1),
        drift_batches=max(0, _int_env("FLYWHEEL_DRIFT_BATCHES", 3)),
    )


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _flow_transfer_dir(configured: str | None) -> Path:
    if configured:
        return Path(configured).expanduser().resolve()
    shared = PROJECT_ROOT.parent / "shared" / "data" / "nab"
    return (
        shared
        if (shared / "combined_windows.json").is_file()
        else PROJECT_ROOT / "data" / "flow" / "transfer"
    )


def _dagster_url(url: str | None) -> str | None:
    """dagster-postgres needs psycopg2 (it binds parameters its way); SQLAlchemy 2.1 opens a bare
    ``postgresql://`` with psycopg 3, so the driver is named (``export_defaults`` publishes it)."""
    if url and url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


SPARK_LAUNCHES: tuple[str, ...] = ("session", "pipes")


def _spark_launch(raw: str) -> str:
    value = raw.strip().lower()
    if value not in SPARK_LAUNCHES:
        raise ValueError(f"FLYWHEEL_SPARK_LAUNCH must be one of {', '.join(SPARK_LAUNCHES)}, got {raw!r}")
    return value


def export_defaults(settings: Settings | None = None) -> Settings:
    """Publish the embedded defaults into ``os.environ`` (without overriding anything set).

    Resources are configured with ``EnvVar(...)`` so the Dagster UI shows where each value comes
    from; that only works when every variable is set, so the embedded defaults are exported here.
    ``DAGSTER_HOME`` must also exist on disk before Dagster opens its instance.
    """
    settings = settings or get_settings()
    for name, value in settings.as_environment().items():
        os.environ.setdefault(name, value)
    if settings.dagster_database_url:  # Dagster reads it from the environment: the driver named
        os.environ["FLYWHEEL_DAGSTER_DATABASE_URL"] = settings.dagster_database_url
    settings.home.mkdir(parents=True, exist_ok=True)
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    # The shipped dagster.yaml (run queue limits, retries, monitoring, telemetry off); a user's
    # own dagster.yaml is left alone.
    from orchestration.instance import ensure_instance_yaml

    ensure_instance_yaml(dagster_home, settings)
    if not settings.landing_is_s3:
        Path(settings.landing).mkdir(parents=True, exist_ok=True)
    return settings

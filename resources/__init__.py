"""Resources shared by every use case, configured from the environment (see orchestration.settings)."""

from __future__ import annotations

from typing import Any

from dagster import EnvVar

from orchestration.settings import Settings, export_defaults
from resources.annotation_resource import AnnotationStoreResource
from resources.io_manager import RunScopedFilesystemIOManager
from resources.kafka import KafkaRecord, KafkaResource
from resources.mlflow_registry import MlflowRegistry, MlflowResource
from resources.object_store import ObjectInfo, ObjectStoreResource
from resources.spark import SparkResource

# Each resource module imports its client library (kafka-python, MLflow, boto3, PySpark, SQLAlchemy)
# where a client is made, so importing this package (every run and step process does) stays cheap.

__all__ = [
    "AnnotationStore",
    "AnnotationStoreResource",
    "KafkaRecord",
    "KafkaResource",
    "MlflowRegistry",
    "MlflowResource",
    "ObjectInfo",
    "ObjectStoreResource",
    "SparkResource",
    "build_resources",
]


def __getattr__(name: str) -> Any:
    """``AnnotationStore`` on first use (its module imports SQLAlchemy)."""
    if name == "AnnotationStore":
        from resources.annotation_store import AnnotationStore

        return AnnotationStore
    raise AttributeError(f"module 'resources' has no attribute {name!r}")


def build_resources(settings: Settings | None = None, resolved: bool = False) -> dict[str, object]:
    """The resource dictionary for ``Definitions``.

    Endpoints are ``EnvVar``s, so the UI shows where each value comes from and a deployment changes
    them without code; ``export_defaults`` makes sure each variable has its embedded default.
    Optional endpoints (``AWS_ENDPOINT_URL``) and sizes are taken from settings when loaded.
    ``resolved=True`` gives plain values instead, for code that uses resources outside a run
    (the CLI, ``discover`` hooks, the simulator).
    """
    settings = export_defaults(settings)

    def env(name: str, value: str) -> object:
        return value if resolved else EnvVar(name)

    return {
        # Explicit, so that in-process runs (``flywheel materialize``, tests) persist outputs too;
        # run-scoped, so that overlapping runs of one graph never load each other's outputs.
        "io_manager": RunScopedFilesystemIOManager(base_dir=str(settings.home / "storage")),
        "spark": SparkResource(
            master=env("SPARK_MASTER", settings.spark_master),
            packages=",".join(settings.spark_packages),
            s3_endpoint=settings.aws_endpoint_url,
            s3_direct=settings.s3_direct,
            ivy_dir=str(settings.cache_dir / "ivy"),
        ),
        "kafka": KafkaResource(
            bootstrap_servers=env("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers),
            default_partitions=settings.kafka_partitions,
            replication_factor=settings.kafka_replication,
        ),
        "object_store": ObjectStoreResource(
            landing=env("FLYWHEEL_LANDING", settings.landing),
            endpoint_url=settings.aws_endpoint_url,
            cache_dir=str(settings.home / "cache" / "s3"),
        ),
        "mlflow_registry": MlflowResource(
            tracking_uri=env("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
        ),
        "annotations": AnnotationStoreResource(
            database_url=env("FLYWHEEL_DATABASE_URL", settings.database_url)
        ),
    }

"""Spark for assets: local mode by default, any master (standalone, YARN, k8s) by ``SPARK_MASTER``.

Like dagster-pyspark's ``PySparkResource`` (same ``spark_config`` field and ``spark_session``
property), but PySpark is imported and the session started only when an asset first asks for it:
dagster-pyspark imports PySpark at import time, which every run process (scoring runs included,
which never touch Spark) would pay when it loads the code location. The config is assembled from
Flywheel's settings (master, extra Maven packages such as ``hadoop-aws`` for ``s3a://``, S3
endpoint) so that one environment variable moves the work to a cluster. ``getOrCreate`` means every
asset in a process (and every test in a session) shares one session.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

LOCAL_DEFAULTS: dict[str, str] = {
    # Small shuffles on one machine; a cluster sets its own through ``conf``.
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "4g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


#: Credentials the executors need for ``s3a://`` when they are not on the driver's machine's env.
_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


def pyspark_hadoop_version() -> str:
    """The Hadoop version pyspark ships (``jars/hadoop-client-api-<v>.jar``): hadoop-aws must match."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("pyspark")
    jars = (
        sorted(Path(spec.origin).parent.glob("jars/hadoop-client-api-*.jar")) if spec and spec.origin else []
    )
    if not jars:
        raise RuntimeError("cannot tell pyspark's Hadoop version (no jars/hadoop-client-api-*.jar)")
    return jars[-1].name.removeprefix("hadoop-client-api-").removesuffix(".jar")


def s3a_packages() -> list[str]:
    """``hadoop-aws`` of pyspark's Hadoop version; its POM brings the matching AWS SDK bundle."""
    return [f"org.apache.hadoop:hadoop-aws:{pyspark_hadoop_version()}"]


def s3a_config(ivy_dir: str | None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Spark settings for reading ``s3a://`` directly: the Ivy cache the packages resolve into (once,
    from Maven Central), change detection (a read fails rather than mixing two versions of an object),
    and the driver's AWS variables for executors that do not share its environment."""
    env = os.environ if environ is None else environ
    config = {
        "spark.hadoop.fs.s3a.change.detection.mode": "server",
        "spark.hadoop.fs.s3a.change.detection.source": "etag",
        "spark.hadoop.fs.s3a.endpoint.region": env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or "us-east-1",
    }
    if ivy_dir:
        config["spark.jars.ivy"] = ivy_dir
    for name in _AWS_ENV:
        if env.get(name):
            config[f"spark.executorEnv.{name}"] = env[name]
    return config


def build_spark_config(
    master: str,
    app_name: str = "flywheel",
    packages: list[str] | None = None,
    conf: dict[str, str] | None = None,
    s3_endpoint: str | None = None,
) -> dict[str, Any]:
    """The flat ``spark.*`` configuration for a session (pure: easy to test and to log)."""
    config: dict[str, Any] = {"spark.master": master, "spark.app.name": app_name}
    if master.startswith("local"):
        config.update(LOCAL_DEFAULTS)
        # Python workers (pandas UDFs, mapInPandas) must run the driver's interpreter, i.e. the venv.
        config["spark.pyspark.python"] = sys.executable
    if packages:
        config["spark.jars.packages"] = ",".join(packages)
    if s3_endpoint:
        config.update(
            {
                "spark.hadoop.fs.s3a.endpoint": s3_endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
            }
        )
    config.update(conf or {})
    return config


def spark_session_from_config(config: dict[str, Any]) -> Any:
    """``SparkSession.builder`` with every ``spark.*`` setting, ``getOrCreate``."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in config.items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate()


class SparkResource(ConfigurableResource):
    """A SparkSession configured from ``SPARK_MASTER``, ``FLYWHEEL_SPARK_PACKAGES`` and ``conf``."""

    spark_config: dict[str, Any] = Field(
        default_factory=dict, description="Extra spark.* settings (win last)."
    )
    master: str = Field(default="local[*]", description="Spark master URL, e.g. local[*], spark://host:7077.")
    app_name: str = Field(default="flywheel")
    packages: str = Field(
        default="", description="Comma-separated Maven coordinates for spark.jars.packages."
    )
    s3_endpoint: str | None = Field(default=None, description="S3 endpoint for s3a:// reads (MinIO, moto).")
    s3_direct: bool = Field(
        default=False, description="Read s3a:// directly: adds hadoop-aws (pyspark's Hadoop version)."
    )
    ivy_dir: str | None = Field(default=None, description="Ivy cache for spark.jars.packages.")
    _session: Any = PrivateAttr(default=None)

    def resolved_config(self) -> dict[str, Any]:
        packages = [p.strip() for p in self.packages.split(",") if p.strip()]
        conf = dict(self.spark_config)
        if self.s3_direct:
            packages += [p for p in s3a_packages() if p not in packages]
            conf = {**s3a_config(self.ivy_dir), **conf}
        return build_spark_config(self.master, self.app_name, packages, conf, self.s3_endpoint)

    def _start(self) -> Any:
        if self.master.startswith(("local", "spark://127.0.0.1:", "spark://localhost:")):
            # A session started from Python (not spark-submit) ignores spark.pyspark.python: its
            # workers run PYSPARK_PYTHON, else whatever python3 is on PATH (not the venv). The same
            # holds for a standalone cluster on this machine (`flywheel infra up --spark-workers`).
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        return spark_session_from_config(self.resolved_config())

    @property
    def spark_session(self) -> Any:
        """The session, started on first use (steps that never ask for it never start a JVM)."""
        if self._session is None:
            self._session = self._start()
        return self._session

    @property
    def spark_context(self) -> Any:
        return self.spark_session.sparkContext


def project_spark_session() -> Any:
    """The session for code that holds no ``spark`` resource (trainers called through the trainer
    contract): the active one when a step already started it, else one started exactly as the
    project's ``SparkResource`` (``SPARK_MASTER``, packages, S3 settings). A bare
    ``SparkSession.builder.getOrCreate()`` would silently ignore all of those."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    from resources import build_resources

    return build_resources(resolved=True)["spark"].spark_session

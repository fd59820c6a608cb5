"""Spark jobs as ``spark-submit`` scripts launched through Dagster Pipes (``FLYWHEEL_SPARK_LAUNCH=pipes``).

With ``session`` (the default) a Spark asset runs in the run's own SparkSession. With ``pipes`` the
heavy part runs as a script under ``scripts/spark_jobs/`` submitted with ``spark-submit`` to
``SPARK_MASTER`` and supervised by ``PipesSubprocessClient``: the run process holds no JVM, the
job's logs stream into the Dagster run, and the script reports what it did (row counts, quarantine
counts, output paths) back through ``open_dagster_pipes`` as one custom message. The same script runs
on EMR (``PipesEMRClient``) or Databricks (``PipesDatabricksClient``) by swapping the client; the
README lists the EMR configuration keys.

Generic on purpose: a use case calls :func:`run_spark_job` with its script name and a JSON-able job
description (``extras``) and gets the script's reported dict back.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from orchestration.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
JOBS_DIR = REPO_ROOT / "scripts" / "spark_jobs"
#: The key of the custom message a job script sends with its result (see ``scripts/spark_jobs``).
RESULT_KEY = "flywheel_result"


def spark_submit_command(settings: Settings, script: Path, app_name: str) -> list[str]:
    """``spark-submit`` from the installed pyspark with Flywheel's Spark configuration (master,
    packages such as hadoop-aws, S3 endpoint, the venv's Python for driver and executors)."""
    from orchestration.infra.spark_cluster import spark_home
    from resources.spark import SparkResource

    conf = {
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        # Executors import the project's modules (cleaning functions, their UDFs) by name.
        "spark.executorEnv.PYTHONPATH": str(REPO_ROOT),
    }
    config = SparkResource(
        master=settings.spark_master,
        app_name=app_name,
        packages=",".join(settings.spark_packages),
        s3_endpoint=settings.aws_endpoint_url,
        s3_direct=settings.s3_direct,
        ivy_dir=str(settings.cache_dir / "ivy"),
        spark_config=conf,
    ).resolved_config()
    command = [str(spark_home() / "bin" / "spark-submit"), "--master", config.pop("spark.master")]
    secret = {k: config.pop(k) for k in [k for k in config if k in SECRET_CONF]}
    if secret:
        command += ["--properties-file", str(_secret_properties(settings, secret))]
    for key, value in config.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(script)]


#: Settings that carry credentials: never on a command line, where any local user reads them (ps).
SECRET_CONF = frozenset(
    f"spark.executorEnv.{name}"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
)


def _secret_properties(settings: Settings, secret: dict[str, str]) -> Path:
    """A ``--properties-file`` readable by this user only (0600, in a 0700 folder), one per set of
    values (named by their hash, so repeated jobs reuse it rather than leave copies behind)."""
    import hashlib

    folder = settings.data_dir("secrets")
    folder.chmod(0o700)
    body = "".join(f"{key} {value}\n" for key, value in sorted(secret.items()))
    path = folder / f"spark-{hashlib.sha256(body.encode()).hexdigest()[:16]}.conf"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(body)
    return path


def job_environment(settings: Settings) -> dict[str, str]:
    """The child's environment: the settings, the venv's Python, the repository on the path."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **settings.as_environment(),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "PYTHONPATH": path,
    }


def run_spark_job(
    context: Any, script: str, extras: dict[str, Any], settings: Settings | None = None
) -> dict[str, Any]:
    """Submit ``scripts/spark_jobs/<script>`` through Pipes; returns the dict the script reported.

    Raises when the job fails (Pipes raises on a non-zero exit) or reports nothing.
    """
    from dagster import PipesSubprocessClient

    settings = settings or get_settings()
    path = JOBS_DIR / script
    if not path.exists():
        raise FileNotFoundError(f"no Spark job script {path}")
    command = spark_submit_command(settings, path, f"flywheel-{path.stem}")
    client = PipesSubprocessClient(env=job_environment(settings), cwd=str(REPO_ROOT))
    invocation = client.run(context=context, command=command, extras=extras)
    results = [
        m[RESULT_KEY] for m in invocation.get_custom_messages() if isinstance(m, dict) and RESULT_KEY in m
    ]
    if not results:
        raise RuntimeError(f"Spark job {script} finished without reporting its result")
    return results[-1]

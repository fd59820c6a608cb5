"""What every ``spark-submit`` cleaning job under ``scripts/spark_jobs`` does around its one call:
open Dagster Pipes, take the job description from the extras, clean in the job's SparkSession, log
the counts and report them (with the master the job ran on) as the one custom message
``resources/spark_pipes.run_spark_job`` reads back. Runs unchanged on EMR or Databricks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dagster_pipes import open_dagster_pipes
from pyspark.sql import SparkSession

from resources.spark_pipes import RESULT_KEY


def run_cleaning_job(clean: Callable[[Any, dict[str, Any]], dict[str, Any]], source_key: str) -> None:
    """``clean(session, job)`` → the counts; ``job[source_key]`` names the file in the logs."""
    with open_dagster_pipes() as pipes:
        job = pipes.extras["job"]
        session = SparkSession.builder.getOrCreate()
        try:
            source = job[source_key]
            pipes.log.info(f"cleaning {source} on {session.sparkContext.master}")
            result = clean(session, job)
            pipes.log.info(
                f"{source}: {result['rows_in']} rows in, {result['rows_kept']} kept, "
                f"{result['rows_quarantined']} quarantined"
            )
            master = session.sparkContext.master
            pipes.report_custom_message({RESULT_KEY: {**result, "spark_master": master}})
        finally:  # a failed clean must not leave the job's executors held on the cluster
            session.stop()

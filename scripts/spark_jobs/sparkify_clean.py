"""``spark-submit`` job: clean one landed Sparkify log file into its slot (``FLYWHEEL_SPARK_LAUNCH=pipes``).

Launched by ``resources/spark_pipes.run_spark_job`` through Dagster Pipes; the file, its source key,
the tables' root and the slot arrive in the Pipes extras, and the counts (lines in / kept /
quarantined per reason, user and anonymous events) and output paths go back as one custom message,
so the asset's metadata is the same as when it cleans in its own session. Runs unchanged on EMR or
Databricks (``PipesEMRClient``: the extras and messages travel through S3 there).
"""

from __future__ import annotations

from dagster_pipes import open_dagster_pipes
from pyspark.sql import SparkSession

from assets.sparkify.cleaning import clean_to_slot

RESULT_KEY = "flywheel_result"


def main() -> None:
    with open_dagster_pipes() as pipes:
        job = pipes.extras["job"]
        session = SparkSession.builder.getOrCreate()
        pipes.log.info(f"cleaning {job['source']} on {session.sparkContext.master}")
        result = clean_to_slot(session, job["path"], job["source"], job["tables_root"], job["slot"])
        pipes.log.info(
            f"{job['source']}: {result['rows_in']} lines in, {result['rows_kept']} kept, "
            f"{result['rows_quarantined']} quarantined"
        )
        pipes.report_custom_message({RESULT_KEY: {**result, "spark_master": session.sparkContext.master}})
        session.stop()


if __name__ == "__main__":
    main()

"""``spark-submit`` job: clean one landed Sparkify log file into its slot (``FLYWHEEL_SPARK_LAUNCH=pipes``).

Launched by ``resources/spark_pipes.run_spark_job`` through Dagster Pipes; the file, its source key,
the tables' root and the slot arrive in the Pipes extras, and the counts (lines in / kept /
quarantined per reason, user and anonymous events) and output paths go back as one custom message,
so the asset's metadata is the same as when it cleans in its own session. Runs unchanged on EMR or
Databricks (``PipesEMRClient``: the extras and messages travel through S3 there).
"""

from __future__ import annotations

from pipes_job import run_cleaning_job

from assets.sparkify.cleaning import clean_to_slot


def main() -> None:
    run_cleaning_job(lambda session, job: clean_to_slot(session, **job), source_key="source")


if __name__ == "__main__":
    main()

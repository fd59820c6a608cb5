"""``spark-submit`` job: clean one landed activity file into its slot (``FLYWHEEL_SPARK_LAUNCH=pipes``).

Launched by ``resources/spark_pipes.run_spark_job`` through Dagster Pipes; the job description
(``assets.activity.ingest.FileJob``) arrives in the Pipes extras, and the counts (rows in / kept /
quarantined per reason, windows) and output paths go back as one custom message, so the asset's
metadata is the same as when it cleans in its own session. Runs unchanged on EMR or Databricks
(``PipesEMRClient``: the extras and messages travel through S3 there).
"""

from __future__ import annotations

from pipes_job import run_cleaning_job

from assets.activity.ingest import FileJob, clean_file


def main() -> None:
    run_cleaning_job(lambda session, job: clean_file(session, FileJob(**job)), source_key="source_uri")


if __name__ == "__main__":
    main()

"""Run tags the shipped instance's run queue limits on (see ``orchestration/instance.py``).

Kept in a module of their own, free of Dagster, so jobs, sensors and the ``dagster.yaml`` writer
agree on one spelling.
"""

#: On every scoring run (``<uc>_score``); value: the use case. At most
#: ``FLYWHEEL_SCORING_CONCURRENCY`` runs per value run at once.
SCORE_TAG = "flywheel/score"
#: On every training or retraining run; value: the use case. One run per value at a time, so two
#: retrains of a use case never race on its aliases and tables.
TRAIN_TAG = "flywheel/train"


def score_tags(use_case: str) -> dict[str, str]:
    return {SCORE_TAG: use_case}


#: Dagster's per-run override of the instance's ``run_retries.max_retries``.
MAX_RETRIES_TAG = "dagster/max_retries"


def train_tags(use_case: str) -> dict[str, str]:
    """Training runs queue one per use case, and are not retried by the instance: a challenger the
    gate refused would be refused again (the labels sensor and the nightly schedule try later)."""
    return {TRAIN_TAG: use_case, MAX_RETRIES_TAG: "0"}


#: On scoring runs the Kafka sensor requests: the champion version it resolved at the tick, and where
#: that version's artifacts are, so the run loads it without a registry round trip and every retry
#: of the run scores with the same version.
CHAMPION_VERSION_TAG = "flywheel/champion_version"
CHAMPION_URI_TAG = "flywheel/champion_uri"

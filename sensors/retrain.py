"""Retrain sensor: enough new labels since the last retraining → request ``<uc>_retrain``.

The cursor is the id of the newest label the last requested run covers; "new" means active labels
(undone ones do not count, a relabelled sample counts once) with a larger id. The run key carries
that id, so a retried tick never requests the same retraining twice.
"""

from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from resources.annotation_resource import AnnotationStoreResource
from sensors.status import default_sensor_status


def build_retrain_sensor(
    use_case: str,
    job_name: str,
    min_labels: int,
    minimum_interval_seconds: int = 60,
    default_status: DefaultSensorStatus | None = None,
    count_outcomes: Any = None,
) -> SensorDefinition:
    """``count_outcomes`` (``() -> int``, may be lazy): delayed ground truth. The sensor then counts
    outcomes resolved since the last request (the cursor is the count then) instead of page labels."""

    @sensor(
        name=f"{use_case}_retrain_sensor",
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_sensor_status(default_status),
        description=f"{min_labels} or more new {use_case} labels since the last retraining → {job_name}.",
    )
    def _sensor(context: SensorEvaluationContext, annotations: AnnotationStoreResource):
        if count_outcomes is not None:
            return _outcomes_tick(context, use_case, min_labels, count_outcomes)
        store = annotations.store()
        since = int(context.cursor or 0)
        new = store.labels(use_case, after_id=since)
        if len(new) < min_labels:
            return SkipReason(f"{len(new)} new {use_case} label(s) since label #{since}; need {min_labels}")
        newest = max(int(row["id"]) for row in new)
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=f"{use_case}-labels-{since}-{newest}",
                    tags={"flywheel/trigger": "labels", "flywheel/new_labels": str(len(new))},
                )
            ],
            cursor=str(newest),
        )

    return _sensor


def _outcomes_tick(context: SensorEvaluationContext, use_case: str, min_new: int, count_outcomes: Any):
    """One tick counting resolved outcomes (delayed ground truth) instead of page labels."""
    from assets.lazy import resolve

    since = int(context.cursor or 0)
    resolved = int(resolve(count_outcomes)())
    if resolved - since < min_new:
        return SkipReason(
            f"{resolved - since} {use_case} outcome(s) resolved since the last retraining; need {min_new}"
        )
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"{use_case}-outcomes-{since}-{resolved}",
                tags={"flywheel/trigger": "outcomes", "flywheel/new_outcomes": str(resolved - since)},
            )
        ],
        cursor=str(resolved),
    )

"""Retrain sensor: enough new labels since the last retraining → request ``<uc>_retrain``.

The cursor is the id of the newest label the last requested run covers; "new" means active labels
(undone ones do not count, a relabelled sample counts once) with a larger id. The run key carries
that id, so a retried tick never requests the same retraining twice.
"""

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
) -> SensorDefinition:
    @sensor(
        name=f"{use_case}_retrain_sensor",
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_sensor_status(default_status),
        description=f"{min_labels} or more new {use_case} labels since the last retraining → {job_name}.",
    )
    def _sensor(context: SensorEvaluationContext, annotations: AnnotationStoreResource):
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

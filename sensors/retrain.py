"""Retrain sensor: enough new labels since the last retraining → request ``<uc>_retrain``.

The cursor is the id of the newest label the last requested run covers; "new" means active labels
(undone ones do not count, a relabelled sample counts once) with a larger id. The run key carries
that id, so a retried tick never requests the same retraining twice.

Beside the label count, sustained drift requests a retraining: when the newest
``FLYWHEEL_DRIFT_BATCHES`` materializations of ``<uc>_drift`` all drifted. The run key names the
first batch of that streak, so a streak, however long, requests one retraining (Dagster drops a
repeated run key); a batch that does not drift ends the streak.

``<uc>_live_quality_sensor`` requests ``<uc>_monitor`` whenever labels arrived since its last request.
"""

from typing import Any

from dagster import (
    AssetKey,
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
    drift_asset_key: AssetKey | None = None,
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
        drifted = _drift_request(context, use_case, drift_asset_key)
        result = _count_tick(context, annotations, use_case, min_labels, count_outcomes)
        if drifted is None:
            return result
        if isinstance(result, SkipReason):
            return SensorResult(run_requests=[drifted], cursor=context.cursor)
        return SensorResult(run_requests=[*result.run_requests, drifted], cursor=result.cursor)

    return _sensor


def _count_tick(
    context: SensorEvaluationContext,
    annotations: AnnotationStoreResource,
    use_case: str,
    min_labels: int,
    count_outcomes: Any,
) -> SensorResult | SkipReason:
    """The label (or outcome) count condition of one tick."""
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


def drift_streak(drifted_newest_first: list[tuple[str, bool]], needed: int) -> str | None:
    """The first partition of the current streak of drifted batches when it is ``needed`` long."""
    if needed <= 0 or len(drifted_newest_first) < needed:
        return None
    streak = []
    for partition, drifted in drifted_newest_first:
        if not drifted:
            break
        streak.append(partition)
    return streak[-1] if len(streak) >= needed else None


def _drift_request(
    context: SensorEvaluationContext, use_case: str, asset_key: AssetKey | None
) -> RunRequest | None:
    """A retraining when the newest drift materializations form a long enough drifted streak."""
    from orchestration.settings import get_settings

    needed = get_settings().drift_batches
    if asset_key is None or needed <= 0:
        return None
    found = context.instance.fetch_materializations(asset_key, limit=500).records
    states = []
    for record in found:
        materialization = record.asset_materialization
        entry = materialization.metadata.get("drifted") if materialization else None
        if materialization is not None and entry is not None:
            states.append((materialization.partition or "", bool(entry.value)))
    first = drift_streak(states, needed)
    if first is None:
        return None
    return RunRequest(
        run_key=f"{use_case}-drift-{first}",
        tags={"flywheel/trigger": "drift", "flywheel/drift_since": first},
    )


def build_live_quality_sensor(
    use_case: str, job_name: str, minimum_interval_seconds: int = 30
) -> SensorDefinition:
    """New labels since the last request → ``<uc>_monitor`` (the live quality of each version)."""

    @sensor(
        name=f"{use_case}_live_quality_sensor",
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_sensor_status(None),
        description=f"New {use_case} labels → {job_name} (live quality of each version on audit labels).",
    )
    def _sensor(context: SensorEvaluationContext, annotations: AnnotationStoreResource):
        newest = annotations.store().last_label_id(use_case)
        since = int(context.cursor or 0)
        if newest <= since:
            return SkipReason(f"no {use_case} label since label #{since}")
        return SensorResult(
            run_requests=[
                RunRequest(run_key=f"{use_case}-live-{newest}", tags={"flywheel/trigger": "labels"})
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

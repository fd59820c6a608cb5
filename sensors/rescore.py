"""Rescore sensor: a scoring partition whose runs failed (retries spent) or never ran is requested again.

The instance retries a failed scoring run (``run_retries`` in the shipped ``dagster.yaml``); this
sensor is the backstop after that: every partition of ``<uc>_batches`` that has no materialization
of ``<uc>_scored_batch`` and no run in progress is requested again once its last run failed more
than ``FLYWHEEL_RESCORE_GRACE_SECONDS`` (120 s) ago (the instance's retries start within seconds),
or once it has been seen without any run for that long (the tick that added it died before
submitting runs). The run key names
the failed run, so each failure is retried once by this sensor, and a retried tick asks for nothing
new. Every scoring partition is idempotent, so a re-run never duplicates rows.

It never loops: once ``FLYWHEEL_RESCORE_MAX_ATTEMPTS`` (3) of its own runs of one partition have
failed, it stops asking for that partition and says so on every tick (the sensor's page shows the
partitions given up on, with the last failed run), until an operator re-runs it by hand.
"""

import json
import time

from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration.settings import get_settings
from sensors.status import default_sensor_status

IN_PROGRESS = {
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
}
ENDED_BADLY = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def rescore_decision(
    latest_status: DagsterRunStatus | None,
    ended_at: float | None,
    first_seen: float,
    now: float,
    grace: float,
) -> bool:
    """Whether a partition without a materialization should be requested again now."""
    if latest_status is None:
        return now - first_seen >= grace
    if latest_status in IN_PROGRESS or latest_status not in ENDED_BADLY:
        return False
    return ended_at is not None and now - ended_at >= grace


def build_rescore_sensor(
    use_case: str,
    job_name: str,
    partitions_def: DynamicPartitionsDefinition,
    asset_key: AssetKey,
    grace_seconds: float | None = None,
    minimum_interval_seconds: int = 60,
    default_status: DefaultSensorStatus | None = None,
) -> SensorDefinition:
    @sensor(
        name=f"{use_case}_rescore_sensor",
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_sensor_status(default_status),
        description=f"Scoring partitions of {use_case} whose runs failed (retries spent) or never ran "
        "→ requested again, so no offset range stays unscored.",
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        instance = context.instance
        now = time.time()
        grace = grace_seconds if grace_seconds is not None else get_settings().rescore_grace_seconds
        seen: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
        done = set(instance.get_materialized_partitions(asset_key))
        pending = [k for k in instance.get_dynamic_partitions(partitions_def.name) if k not in done]
        requests, still_seen, given_up = [], {}, []
        max_attempts = get_settings().rescore_max_attempts
        for key in pending:
            records = instance.get_run_records(
                RunsFilter(job_name=job_name, tags={"dagster/partition": key}), limit=1
            )
            latest = records[0] if records else None
            first_seen = seen.get(key, now)
            if latest is None:
                still_seen[key] = first_seen
            ended = latest.end_time if latest is not None else None
            status = latest.dagster_run.status if latest is not None else None
            if rescore_decision(status, ended, first_seen, now, grace):
                failed = _failed_rescores(instance, job_name, key, max_attempts)
                if failed >= max_attempts:
                    given_up.append(f"{key} (last failed run {latest.dagster_run.run_id[:8]})")
                    continue
                cause = latest.dagster_run.run_id if latest is not None else "never-ran"
                requests.append(
                    RunRequest(
                        partition_key=key,
                        run_key=f"rescore:{key}:{cause}",
                        tags={"flywheel/trigger": "rescore", "flywheel/rescore_of": cause},
                    )
                )
        cursor = json.dumps(still_seen, sort_keys=True)
        gave_up = (
            f"gave up on {len(given_up)} partition(s) after {max_attempts} failed rescore runs each "
            f"(re-run by hand once the cause is fixed): {', '.join(given_up[:10])}"
            if given_up
            else ""
        )
        if gave_up:
            context.log.warning(gave_up)
        if not requests:
            reason = f"{len(pending)} partition(s) unscored, none to request again"
            return SensorResult(
                skip_reason=SkipReason(f"{reason}; {gave_up}" if gave_up else reason), cursor=cursor
            )
        return SensorResult(run_requests=requests, cursor=cursor)

    return _sensor


def _failed_rescores(instance, job_name: str, key: str, limit: int) -> int:
    """How many of this sensor's runs of partition ``key`` ended badly (up to ``limit``)."""
    records = instance.get_run_records(
        RunsFilter(
            job_name=job_name,
            tags={"dagster/partition": key, "flywheel/trigger": "rescore"},
            statuses=list(ENDED_BADLY),
        ),
        limit=limit,
    )
    return len(records)

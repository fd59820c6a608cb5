"""The batch landing sensor hands each file to one run at a time (issue 22, item 7): while an ingest
run is queued or running it requests nothing; after the run, the files it did not read go."""

from __future__ import annotations

import uuid
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from sensor_ticks import tick

from resources.object_store import ObjectStoreResource
from sensors.landing import build_batch_landing_sensor


def _run(instance: DagsterInstance, status: DagsterRunStatus) -> DagsterRun:
    run = DagsterRun(job_name="batchy_ingest", run_id=str(uuid.uuid4()), status=status)
    instance.add_run(run)
    return run


def test_a_run_in_flight_holds_the_landing(tmp_path: Path) -> None:
    store = ObjectStoreResource(landing=str(tmp_path / "landing"))
    folder = tmp_path / "landing" / "batchy"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"a")
    sensor = build_batch_landing_sensor("batchy", "batchy_ingest")
    with DagsterInstance.ephemeral() as instance:
        first = tick(sensor, instance, None, {"object_store": store})
        assert len(first.run_requests) == 1
        running = _run(instance, DagsterRunStatus.STARTED)
        (folder / "b.png").write_bytes(b"b")
        held = tick(sensor, instance, first.cursor, {"object_store": store})
        assert not held.run_requests and "holds the landing" in held.skip_reason.skip_message
        assert held.cursor == first.cursor  # b is not marked seen: it goes once the run ends
        instance.delete_run(running.run_id)
        _run(instance, DagsterRunStatus.SUCCESS)
        after = tick(sensor, instance, held.cursor, {"object_store": store})
        assert len(after.run_requests) == 1 and after.run_requests[0].tags["flywheel/new_files"] == "1"

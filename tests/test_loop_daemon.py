"""The loop as users run it: a real ``dagster-daemon`` and code server (``flywheel serve``'s own
processes) on the shipped instance, the Kafka sensor switched on by ``FLYWHEEL_SENSORS=on``.

1,200 disaster records with 2 % poison are simulated; the daemon ticks the sensor, queues and
launches the scoring runs itself. One run is made to fail once (its predictions folder is taken by
a file, so the step cannot write); the instance's run retries launch it again once the blocker is
gone. In the end every topic offset is in the predictions table or the dead-letter table exactly
once, within a bounded time, and the failed partition holds each of its offsets once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from test_disaster_lifecycle import FAST_TRAINER, land_slice, run_pipeline

from assets.loop.records import ranges_key
from assets.loop.scoring import batch_slot, predictions_table
from orchestration.infra.kafka_broker import free_port
from orchestration.serve import Server
from orchestration.settings import Settings, get_settings
from orchestration.simulate import simulate
from resources.kafka import KafkaResource
from sensors.kafka import KafkaCursor, plan_batches

RECORDS, BATCH, POISON = 1200, 300, 0.02
DEADLINE_SECONDS = 420


def _covered(home: Path) -> pd.DataFrame:
    """(partition, offset) of every scored and every dead-lettered record so far."""
    columns = ["partition", "offset"]
    frames = [predictions_table("disaster", columns=columns)]
    frames += [
        pd.read_parquet(f, columns=columns)
        for f in sorted((home / "tables/disaster/deadletter").glob("*/*.parquet"))
    ]
    return pd.concat(frames, ignore_index=True)


def _runs_of(instance: DagsterInstance, partition: str):
    return instance.get_runs(RunsFilter(tags={"dagster/partition": partition}), ascending=True)


def _daemon_report(instance: DagsterInstance, log_dir: Path) -> list[str]:
    """What the daemon did, for a failure message: the Kafka sensor's last ticks, runs by status and
    the errors the daemon and code server logged."""
    from collections import Counter

    from dagster._core.scheduler.instigation import InstigatorType

    lines = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name != "disaster_kafka_sensor":
            continue
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=400)
        lines.append(f"disaster_kafka_sensor: {state.status.value}, {len(ticks)} ticks")
        for tick in ticks[:5]:
            reason = tick.error.message.splitlines()[0] if tick.error else (tick.skip_reason or "")
            lines.append(f"  {tick.status.value} runs={len(tick.run_ids)} {reason[:200]}")
    counts = Counter(r.status.value for r in instance.get_runs(RunsFilter(job_name="disaster_score")))
    lines.append(f"disaster_score runs by status: {dict(counts)}")
    for name in ("daemon", "code-server"):
        path = log_dir / f"{name}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        errors = [line for line in text if "ERROR" in line or "Error" in line or "Traceback" in line]
        lines.append(f"{name}.log: {len(text)} lines, {len(errors)} with errors; last errors:")
        lines += [f"  {line[:300]}" for line in errors[-8:]]
    return lines


def test_daemon_scores_every_offset_once_and_retries_a_failed_run(
    kafka_env: Settings, monkeypatch, tmp_path: Path
) -> None:
    from orchestration.definitions import build_definitions

    for name, value in {
        "FLYWHEEL_BATCH_SIZE": str(BATCH),
        "FLYWHEEL_BATCH_MAX_WAIT_SECONDS": "3",
        "FLYWHEEL_SENSOR_INTERVAL_SECONDS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    clock = time.monotonic()
    land_slice(kafka_env)
    defs = build_definitions()
    instance = DagsterInstance.get()
    assert run_pipeline(defs, instance, [FAST_TRAINER]).success  # champion v1

    report = simulate(get_settings(), "disaster", RECORDS, seed=21, poison_share=POISON)
    assert report.sent == RECORDS and report.poison > 0
    topic = kafka_env.topic("disaster")
    kafka = KafkaResource(bootstrap_servers=kafka_env.kafka_bootstrap_servers)
    end, beginning = kafka.end_offsets(topic), kafka.beginning_offsets(topic)
    expected = sorted((p, o) for p, n in end.items() for o in range(beginning[p], n))
    assert len(expected) == RECORDS

    # The sensor's first batch follows from its empty cursor and the end offsets alone.
    planned, _ = plan_batches(KafkaCursor(), beginning, end, BATCH, 3.0, time.time())
    first = ranges_key(planned[0], kafka.topic_id(topic))
    blocker = kafka_env.home / "tables/disaster/predictions" / f"batch={batch_slot(first)}"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder: the first attempt of this partition cannot write here\n")

    logs: list[str] = [f"champion trained and records produced in {time.monotonic() - clock:.0f}s"]
    log_dir = tmp_path / "serve-logs"
    server = Server(
        get_settings(), port=free_port(), sensors_on=True, log=logs.append, grace_seconds=15, log_dir=log_dir
    )
    started = time.monotonic()
    try:
        server.start()
        logs.append(f"code server, daemon and webserver up in {time.monotonic() - started:.0f}s")
        covered, unblocked = pd.DataFrame(), False
        while time.monotonic() - started < DEADLINE_SECONDS:
            server.check_children()  # a daemon or code server that died fails the test now, saying so
            if not unblocked and any(r.status == DagsterRunStatus.FAILURE for r in _runs_of(instance, first)):
                blocker.unlink()  # the failure happened: the retry may now write
                unblocked = True
                logs.append(f"first attempt of {first} failed after {time.monotonic() - started:.0f}s")
            covered = _covered(kafka_env.home)
            runs = _runs_of(instance, first) if unblocked else []
            if len(covered) >= RECORDS and any(r.status == DagsterRunStatus.SUCCESS for r in runs):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        logs.append(f"{len(covered)} offsets covered after {elapsed:.0f}s")
        if len(covered) < RECORDS:
            logs += _daemon_report(instance, log_dir)
    finally:
        server.stop()
    print("\n".join(logs))

    seen = sorted(zip(covered["partition"], covered["offset"], strict=True))
    assert seen == expected, f"after {elapsed:.0f}s, {len(seen)} rows for {RECORDS} offsets:\n" + "\n".join(
        logs
    )
    runs = _runs_of(instance, first)
    statuses = [r.status for r in runs]
    # Under load a retry may start before the blocker is gone and fail too: a later one succeeds.
    assert statuses[0] == DagsterRunStatus.FAILURE and statuses[-1] == DagsterRunStatus.SUCCESS, statuses
    retry = runs[-1]  # launched by the instance's run retries, not by the sensor again
    assert int(retry.tags.get("dagster/retry_number", 0)) >= 1 and retry.root_run_id == runs[0].run_id
    # Every scoring run was launched by the daemon from a sensor tick, none in this process.
    scoring = instance.get_runs(RunsFilter(job_name="disaster_score"))
    assert scoring and all(r.tags.get("dagster/sensor_name") == "disaster_kafka_sensor" for r in scoring)
    # The partition that failed first holds each of its offsets exactly once.
    slot = f"batch={batch_slot(first)}/part-0.parquet"
    mine = pd.concat(
        [
            pd.read_parquet(
                kafka_env.home / "tables/disaster" / table / slot, columns=["partition", "offset"]
            )
            for table in ("predictions", "deadletter")
        ]
    )
    assert sorted(zip(mine["partition"], mine["offset"], strict=True)) == sorted(
        (p, o) for p, (s, e) in planned[0].items() for o in range(s, e)
    )

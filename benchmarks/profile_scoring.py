"""Profile one in-process scoring run of a large disaster batch (default 100k records) with pyinstrument.

The same setup as ``benchmarks/streaming.py`` (temporary home, own broker, champion trained by the
real ``disaster_train``); then ``--records`` records are produced, the real Kafka sensor requests
one run over all of them, and that ``disaster_score`` run is executed in process under pyinstrument.
A warm-up run of a small batch first, so the champion is cached as a long-lived process has it.

    python benchmarks/profile_scoring.py [--records 100000] [--html out.html]

Prints the run's wall time and the profile tree (time per call path, what is not scoring shows as
such); the last line is ``records=<n> run_s=<wall> records_per_s=<rate>``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import streaming  # noqa: E402  (the shared setup: isolated home, landing slice, champion)


def _one_run(defs, instance, kafka, cursor: str | None, batch: int) -> tuple[str, str]:
    """Tick the sensor with batch size ``batch``; return (partition key, next cursor)."""
    from dagster import build_sensor_context

    os.environ["FLYWHEEL_BATCH_SIZE"] = str(batch)
    sensor = defs.resolve_sensor_def(streaming.SENSOR)
    result = sensor(
        build_sensor_context(instance=instance, cursor=cursor, resources=streaming.sensor_resources(kafka))
    )
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    requests = result.run_requests or []
    if len(requests) != 1:
        raise SystemExit(f"expected one run request, got {len(requests)}")
    return requests[0].partition_key, result.cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--html", default=None, help="also write pyinstrument's HTML report here")
    args = parser.parse_args()

    from pyinstrument import Profiler

    home = streaming.isolated_home(False, None)
    from orchestration.infra.kafka_broker import KafkaBroker
    from orchestration.settings import get_settings

    broker = KafkaBroker(get_settings())
    broker.start(timeout=120, log=streaming.say)
    try:
        from dagster import DagsterInstance

        from orchestration.definitions import build_definitions
        from orchestration.simulate import simulate
        from resources import build_resources

        settings = get_settings()
        streaming.land_slice(Path(settings.landing))
        defs = build_definitions()
        instance = DagsterInstance.get()
        streaming.train_champion(defs, instance)
        streaming.stop_spark()
        kafka = build_resources(resolved=True)["kafka"]
        job = defs.resolve_job_def(streaming.SCORE_JOB)

        simulate(settings, streaming.USE_CASE, 500, seed=1)
        key, cursor = _one_run(defs, instance, kafka, None, 500)
        job.execute_in_process(instance=instance, partition_key=key, run_config=streaming.QUIET)

        produced = simulate(settings, streaming.USE_CASE, args.records, seed=2)
        streaming.say(f"produced {produced.sent:,} records in {produced.seconds:.1f}s")
        key, cursor = _one_run(defs, instance, kafka, cursor, args.records)
        profiler = Profiler(interval=0.005)
        started = time.monotonic()
        with profiler:
            result = job.execute_in_process(instance=instance, partition_key=key, run_config=streaming.QUIET)
        seconds = time.monotonic() - started
        if not result.success:
            raise SystemExit("the profiled run failed")
        streaming.say(profiler.output_text(unicode=False, color=False, show_all=False))
        if args.html:
            Path(args.html).write_text(profiler.output_html())
        streaming.say(
            f"records={args.records} run_s={seconds:.2f} records_per_s={args.records / seconds:,.0f}"
        )
    finally:
        broker.stop(log=streaming.say)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

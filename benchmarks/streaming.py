"""Streaming throughput and produce→prediction latency of the Kafka sensor path, against a ceiling.

What is measured, for the disaster use case (small JSON records ``{id, message, genre, original}``)
and each batch size B in ``--batches`` (default 1k, 10k, 100k):

* **sensor path**: N = B × ``--batches-per-size`` records are produced to ``disaster.records`` by
  :func:`orchestration.simulate.simulate` (no rate limit), ``FLYWHEEL_BATCH_SIZE`` is set to B, and
  the real ``disaster_kafka_sensor`` (from ``build_definitions()``) ticks through
  ``build_sensor_context``; each run it requests is executed with ``execute_in_process`` on a real
  ``DagsterInstance``: ``disaster_scored_batch`` (read the exact offset range, parse, dead-letter,
  load the champion, predict, write the predictions partition, publish to ``disaster.predictions``)
  and ``disaster_annotation_candidates`` (uncertainty sampling into the annotation queue). That is
  the same code a daemon-launched run executes; what it leaves out is the daemon's own cost (the
  sensor interval, at least 10 s, and the run launcher's process start-up per run), and runs
  execute one after another, where a daemon may launch them side by side.
* **ceiling**: an identical burst (same seed, so the same N records) on a topic of its own, drained
  by a tight kafka-python loop in this process: ``KafkaConsumer`` with ``assign`` + ``seek``,
  ``poll``, ``json.loads``, and the champion's pyfunc ``predict`` every B records, the model
  loaded once before the clock starts. It is the ceiling because it is the least work that turns
  the topic into predictions with the same client and the same model: no orchestration (no ticks,
  run and event-log storage, per-run model load), nothing written (no predictions table, no
  predictions topic, no annotation queue), no process or thread hand-off. The sensor path can only
  add to it, so ``throughput_ratio`` says how much of the bare rate the platform keeps.

Rates are records scored / wall time, from the first sensor tick (ceiling: the consumer's creation)
to the end of the last run (ceiling: the last ``predict``). A record's latency is
``scored_at − produced_at``, the Kafka record timestamp (set by the producer when it sent it) to the
moment its batch was predicted; for the sensor path both come from ``predictions_table("disaster")``
(this size's rows only). Each burst is produced in full before its path starts, so latency includes
the time a record waited behind the rest of its burst; both paths get the same burst from the same
producer, so that part is equal. Figures are for one machine shared with whatever else runs on it.

Everything runs in a temporary ``FLYWHEEL_HOME`` (SQLite MLflow and annotation store, its own
Dagster home, landing, ``SPARK_MASTER=local[2]``, a fresh topic prefix) with its own Kafka broker on
a free port, unless ``--bootstrap`` names one. A slice of the shared Figure Eight data is landed and
the real ``disaster_train`` job trains the champion with the fast trainer first.

    python benchmarks/streaming.py [--batches 1000,10000,100000] [--batches-per-size 2]
                                   [--bootstrap host:port] [--keep]

The last line is ``throughput_ratio=<best sensor-path rate / ceiling rate at that batch size>
p95_latency_s=<sensor-path p95 at that batch size>``.

``--daemon`` measures the path users run instead: ``flywheel serve``'s own processes (a code server,
``dagster-daemon`` and the webserver, started by :class:`orchestration.serve.Server`) on the
temporary instance with the shipped ``dagster.yaml`` (run queue, retries, monitoring), the Kafka
sensor switched on (``FLYWHEEL_SENSORS=on``, ticking every ``FLYWHEEL_SENSOR_INTERVAL_SECONDS``). The
daemon ticks the sensor, queues the runs and launches each in a process of its own, as in
production. Two loads:

* **steady**: ``--steady-rate`` records/s (default 100) offered for ``--steady-seconds`` (120) at
  batch size 1,000 → sustained records/s (records / first produce → last prediction) and
  produce→prediction p50/p95;
* **burst**: ``--burst`` records (200,000) produced in full while the daemon is stopped, then the
  daemon started at batch size 100,000 → records/s from the first scoring run's creation to the
  last prediction, beside the tight-loop ceiling on the same burst (same seed, own topic).

Its last line is ``daemon_throughput_ratio=<burst rate / ceiling> daemon_p95_latency_s=<steady p95>``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "disaster_response"
sys.path.insert(0, str(REPO))

USE_CASE = "disaster"
SENSOR = f"{USE_CASE}_kafka_sensor"
SCORE_JOB = f"{USE_CASE}_score"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # events are still stored


def sensor_resources(kafka: Any) -> dict[str, Any]:
    """What the Kafka sensor asks for: the broker, and the registry it resolves the champion in."""
    from resources.mlflow_registry import MlflowResource

    return {"kafka": kafka, "mlflow_registry": MlflowResource(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])}


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class PathFigures:
    records: int
    seconds: float
    latencies: np.ndarray
    runs: int = 0
    ticks: int = 0

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else float("inf")

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.latencies, q)) if len(self.latencies) else float("nan")


@dataclass
class SizeFigures:
    batch_size: int
    records: int
    produce_rate: float
    sensor: PathFigures
    ceiling: PathFigures


# -- environment -------------------------------------------------------------------------------------
def isolated_home(keep: bool, bootstrap: str | None) -> Path:
    """Point every Flywheel variable at a fresh temporary folder (as the tests' ``flywheel_env``)."""
    from orchestration.infra.kafka_broker import free_port
    from orchestration.settings import home_environment

    home = Path(tempfile.mkdtemp(prefix="flywheel-stream-"))
    values = {
        **home_environment(home),
        "SPARK_MASTER": "local[2]",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap or f"127.0.0.1:{free_port()}",
        "FLYWHEEL_TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:10]}.",
    }
    os.environ.update(values)
    for name in ("AWS_ENDPOINT_URL", "FLYWHEEL_SPARK_PACKAGES", "FLYWHEEL_BATCH_SIZE"):
        os.environ.pop(name, None)
    (home / "dagster").mkdir(parents=True)
    (home / "landing").mkdir(parents=True)
    say(f"FLYWHEEL_HOME={home}" + ("" if keep else " (removed afterwards; --keep to keep it)"))
    return home


def land_slice(landing: Path, every: int = 8) -> int:
    """Every ``every``-th shared message (and its categories) into the landing, formats unchanged."""
    messages = pd.read_csv(SHARED / "disaster_messages.csv", dtype=str, keep_default_na=False)
    categories = pd.read_csv(SHARED / "disaster_categories.csv", dtype=str, keep_default_na=False)
    ids = set(messages["id"].iloc[::every])
    folder = landing / USE_CASE
    folder.mkdir(parents=True, exist_ok=True)
    messages[messages["id"].isin(ids)].to_csv(folder / "disaster_messages.csv", index=False)
    categories[categories["id"].isin(ids)].to_csv(folder / "disaster_categories.csv", index=False)
    return len(ids)


def train_champion(defs, instance) -> str:
    """The real ``disaster_train`` job with the fast trainer; returns the champion's version."""
    from assets.disaster.model import TRAINERS
    from resources.mlflow_registry import CHAMPION, MlflowRegistry

    trainer = next(iter(TRAINERS))
    config = {**QUIET, "ops": {f"{USE_CASE}_challenger": {"config": {"trainers": [trainer]}}}}
    started = time.monotonic()
    result = defs.resolve_job_def(f"{USE_CASE}_train").execute_in_process(
        instance=instance, run_config=config, raise_on_error=False
    )
    if not result.success:
        raise SystemExit(f"{USE_CASE}_train failed (run {result.run_id}); no champion to score with")
    champion = MlflowRegistry(os.environ["MLFLOW_TRACKING_URI"]).get_alias(USE_CASE, CHAMPION)
    if champion is None:
        raise SystemExit(f"{USE_CASE}_train succeeded but promoted no champion")
    say(f"champion v{champion.version} ({trainer}) trained in {time.monotonic() - started:.0f}s")
    return str(champion.version)


def stop_spark() -> None:
    """Training is done: stop its Spark session so its JVM does not sit beside the measurement."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


# -- the sensor path ----------------------------------------------------------------------------------
def sensor_path(defs, instance, kafka, cursor: str | None, expected: int) -> tuple[int, int, float, str]:
    """Tick the real sensor and execute every run it requests until ``expected`` records are scored.

    Returns (ticks, runs, seconds, cursor)."""
    from dagster import build_sensor_context

    from assets.loop.records import parse_ranges_key

    sensor = defs.resolve_sensor_def(SENSOR)
    job = defs.resolve_job_def(SCORE_JOB)
    ticks = runs = scored = 0
    started = time.time()
    deadline = time.monotonic() + 3600
    while scored < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"sensor path scored {scored} of {expected} records within an hour")
        result = sensor(
            build_sensor_context(instance=instance, cursor=cursor, resources=sensor_resources(kafka))
        )
        ticks += 1
        for request in getattr(result, "dynamic_partitions_requests", None) or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        cursor = result.cursor or cursor
        requests = getattr(result, "run_requests", None) or []
        if not requests:
            time.sleep(0.2)  # nothing ready yet (cannot happen with a whole burst on the topic)
            continue
        for request in requests:
            run = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                tags=dict(request.tags),
                run_config=QUIET,
                raise_on_error=False,
            )
            if not run.success:
                raise SystemExit(f"{SCORE_JOB} run {run.run_id} for {request.partition_key} failed")
            runs += 1
            scored += sum(e - s for s, e in parse_ranges_key(request.partition_key).values())
    return ticks, runs, time.time() - started, cursor


def sensor_latencies(id_prefix: str, expected: int) -> np.ndarray:
    from assets.loop.factory import predictions_table

    table = predictions_table(USE_CASE)
    rows = table[table["key"].str.startswith(id_prefix)]
    if len(rows) != expected or rows.duplicated(["partition", "offset"]).any():
        raise SystemExit(f"predictions table holds {len(rows)} rows for {id_prefix}*, expected {expected}")
    return (rows["scored_at"] - rows["produced_at"]).to_numpy(dtype=float)


# -- the ceiling ----------------------------------------------------------------------------------------
def ceiling_path(bootstrap: str, topic: str, model: Any, batch_size: int, expected: int) -> PathFigures:
    """Consume ``expected`` records from ``topic`` and predict every ``batch_size``: nothing else."""
    from kafka import KafkaConsumer, TopicPartition

    started = time.time()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=min(batch_size, 50_000),
    )
    latencies: list[np.ndarray] = []
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(tps)
        for tp, offset in consumer.beginning_offsets(tps).items():
            consumer.seek(tp, offset)
        values: list[bytes] = []
        stamps: list[int] = []
        done = 0
        idle = 0
        while done < expected:
            polled = consumer.poll(timeout_ms=1000)
            idle = 0 if polled else idle + 1
            if idle >= 30:
                raise SystemExit(f"ceiling read {done + len(values)} of {expected} records from {topic}")
            for records in polled.values():
                for record in records:
                    values.append(record.value)
                    stamps.append(record.timestamp)
            while len(values) >= batch_size or (values and done + len(values) >= expected):
                chunk, values = values[:batch_size], values[batch_size:]
                chunk_stamps, stamps = stamps[:batch_size], stamps[batch_size:]
                model.predict(pd.DataFrame([json.loads(v) for v in chunk]))
                scored_at = time.time()
                latencies.append(scored_at - np.asarray(chunk_stamps, dtype=float) / 1000.0)
                done += len(chunk)
    finally:
        consumer.close()
    return PathFigures(done, time.time() - started, np.concatenate(latencies) if latencies else np.array([]))


# -- one batch size -------------------------------------------------------------------------------------
def measure_size(
    index: int, batch_size: int, per_size: int, defs, instance, kafka, model, cursor: str | None
) -> tuple[SizeFigures, str]:
    from orchestration.settings import get_settings
    from orchestration.simulate import simulate

    records = batch_size * per_size
    seed = 1000 + index  # record ids are sim-<seed>-<n>: this size's rows in the predictions table
    os.environ["FLYWHEEL_BATCH_SIZE"] = str(batch_size)
    settings = get_settings()

    say(f"\n[{batch_size:,}] producing {records:,} records to {settings.topic(USE_CASE)} ...")
    produced = simulate(settings, USE_CASE, records, seed=seed)
    say(
        f"[{batch_size:,}] produced in {produced.seconds:.1f}s ({produced.rate:,.0f} records/s); "
        "sensor path ..."
    )
    ticks, runs, seconds, cursor = sensor_path(defs, instance, kafka, cursor, records)
    sensor = PathFigures(records, seconds, sensor_latencies(f"sim-{seed}-", records), runs, ticks)
    say(
        f"[{batch_size:,}] sensor path: {ticks} tick(s), {runs} run(s), {seconds:.1f}s, "
        f"{sensor.rate:,.0f} records/s, p50 {sensor.quantile(0.5):.2f}s p95 {sensor.quantile(0.95):.2f}s"
    )

    # The same records again, on a topic of this size's own (so the ceiling reads exactly them).
    ceiling_settings = replace(settings, topic_prefix=f"{settings.topic_prefix}ceiling{batch_size}.")
    again = simulate(ceiling_settings, USE_CASE, records, seed=seed)
    say(f"[{batch_size:,}] same burst on {again.topic} in {again.seconds:.1f}s; ceiling ...")
    ceiling = ceiling_path(settings.kafka_bootstrap_servers, again.topic, model, batch_size, records)
    say(
        f"[{batch_size:,}] ceiling: {ceiling.seconds:.1f}s, {ceiling.rate:,.0f} records/s, "
        f"p50 {ceiling.quantile(0.5):.2f}s p95 {ceiling.quantile(0.95):.2f}s"
    )
    return SizeFigures(batch_size, records, produced.rate, sensor, ceiling), cursor


def format_table(rows: list[SizeFigures]) -> str:
    header = (
        f"{'batch':>8} {'records':>8} {'runs':>4} | {'sensor rec/s':>12} {'p50 s':>7} {'p95 s':>7} | "
        f"{'ceiling rec/s':>13} {'p50 s':>7} {'p95 s':>7} | {'ratio':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        s, c = r.sensor, r.ceiling
        lines.append(
            f"{r.batch_size:>8,} {r.records:>8,} {s.runs:>4} | {s.rate:>12,.0f} {s.quantile(0.5):>7.2f} "
            f"{s.quantile(0.95):>7.2f} | {c.rate:>13,.0f} {c.quantile(0.5):>7.2f} {c.quantile(0.95):>7.2f} | "
            f"{s.rate / c.rate:>6.3f}"
        )
    return "\n".join(lines)


def run(batches: list[int], per_size: int) -> list[SizeFigures]:
    import mlflow
    from dagster import DagsterInstance

    from orchestration.definitions import build_definitions
    from orchestration.settings import get_settings
    from resources import build_resources

    settings = get_settings()
    say(f"landed {land_slice(Path(settings.landing)):,} messages; training the champion ...")
    defs = build_definitions()
    instance = DagsterInstance.get()
    version = train_champion(defs, instance)
    stop_spark()
    kafka = build_resources(resolved=True)["kafka"]
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{USE_CASE}/{version}")  # the ceiling's, loaded once

    figures: list[SizeFigures] = []
    cursor: str | None = None  # carried over: each size's ticks see only its own burst
    for index, batch_size in enumerate(batches):
        size, cursor = measure_size(index, batch_size, per_size, defs, instance, kafka, model, cursor)
        figures.append(size)
    return figures


# -- through the daemon -------------------------------------------------------------------------------
@contextmanager
def daemon_serving(log_dir: Path, **environment: str):
    """``flywheel serve``'s processes (code server, daemon, webserver) with the sensors on."""
    from orchestration.infra.kafka_broker import free_port
    from orchestration.serve import Server
    from orchestration.settings import get_settings

    os.environ.update(environment)
    lines: list[str] = []
    server = Server(get_settings(), port=free_port(), sensors_on=True, log=lines.append, grace_seconds=20)
    started = time.monotonic()
    try:
        server.start()
        say(f"daemon, code server and webserver up in {time.monotonic() - started:.1f}s ({environment})")
        yield server
    finally:
        server.stop()
        with (log_dir / "serve.log").open("a") as handle:
            handle.write("\n".join(lines) + "\n")


def wait_scored(id_prefix: str, expected: int, timeout: float) -> pd.DataFrame:
    """The predictions rows of ``id_prefix*`` once all ``expected`` are there (exactly once each)."""
    from assets.loop.factory import predictions_table

    deadline = time.monotonic() + timeout
    columns = ["key", "partition", "offset", "produced_at", "scored_at"]
    while True:
        table = predictions_table(USE_CASE, columns=columns)
        rows = table[table["key"].astype(str).str.startswith(id_prefix)] if len(table) else table
        if len(rows) >= expected:
            if len(rows) != expected or rows.duplicated(["partition", "offset"]).any():
                raise SystemExit(f"{len(rows)} prediction rows for {expected} records of {id_prefix}*")
            return rows
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(rows)} of {expected} {id_prefix}* records scored in {timeout:.0f}s")
        time.sleep(0.5)


def wait_runs_done(timeout: float = 180) -> None:
    """Let the runs in progress finish (their annotation step) before the daemon is stopped."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    busy = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING]
    busy.append(DagsterRunStatus.STARTED)
    instance = DagsterInstance.get()
    deadline = time.monotonic() + timeout
    while instance.get_runs(RunsFilter(statuses=busy)) and time.monotonic() < deadline:
        time.sleep(0.5)


def steady_load(rate: float, seconds: float, seed: int, log_dir: Path) -> PathFigures:
    from orchestration.settings import get_settings
    from orchestration.simulate import simulate

    records = int(rate * seconds)
    with daemon_serving(log_dir, FLYWHEEL_BATCH_SIZE="1000"):
        say(f"[steady] offering {records:,} records at {rate:.0f}/s ...")
        produced = simulate(get_settings(), USE_CASE, records, rate=rate, seed=seed)
        say(f"[steady] produced in {produced.seconds:.1f}s; waiting for the last predictions ...")
        rows = wait_scored(f"sim-{seed}-", records, timeout=600)
        wait_runs_done()
    wall = float(rows["scored_at"].max() - rows["produced_at"].min())
    latencies = (rows["scored_at"] - rows["produced_at"]).to_numpy(dtype=float)
    return PathFigures(records, wall, latencies)


def burst_load(records: int, seed: int, model: Any, log_dir: Path) -> tuple[PathFigures, PathFigures]:
    from dagster import DagsterInstance, RunsFilter

    from orchestration.settings import get_settings
    from orchestration.simulate import simulate

    settings = get_settings()
    batch = 100_000
    produced = simulate(settings, USE_CASE, records, seed=seed)
    say(f"[burst] {records:,} records produced in {produced.seconds:.1f}s with the daemon stopped")
    since = time.time()
    with daemon_serving(log_dir, FLYWHEEL_BATCH_SIZE=str(batch)):
        rows = wait_scored(f"sim-{seed}-", records, timeout=900)
        wait_runs_done()
    instance = DagsterInstance.get()
    runs = [
        r
        for r in instance.get_run_records(RunsFilter(job_name=SCORE_JOB))
        if r.create_timestamp.timestamp() >= since
    ]
    first_run = min(r.create_timestamp.timestamp() for r in runs)
    wall = float(rows["scored_at"].max()) - first_run
    daemon = PathFigures(records, wall, (rows["scored_at"] - rows["produced_at"]).to_numpy(float), len(runs))
    say(
        f"[burst] daemon: {len(runs)} run(s), {wall:.1f}s from the first run's creation, {daemon.rate:,.0f}/s"
    )
    ceiling_settings = replace(settings, topic_prefix=f"{settings.topic_prefix}ceiling-burst.")
    again = simulate(ceiling_settings, USE_CASE, records, seed=seed)
    ceiling = ceiling_path(settings.kafka_bootstrap_servers, again.topic, model, batch, records)
    say(f"[burst] ceiling: {ceiling.seconds:.1f}s, {ceiling.rate:,.0f}/s")
    return daemon, ceiling


def run_daemon(args: argparse.Namespace) -> None:
    import mlflow
    from dagster import DagsterInstance

    from orchestration.definitions import build_definitions
    from orchestration.settings import get_settings

    settings = get_settings()
    say(f"landed {land_slice(Path(settings.landing)):,} messages; training the champion ...")
    defs = build_definitions()  # also writes the shipped dagster.yaml into the temporary DAGSTER_HOME
    version = train_champion(defs, DagsterInstance.get())
    stop_spark()
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{USE_CASE}/{version}")
    log_dir = settings.data_dir("logs")
    steady = steady_load(args.steady_rate, args.steady_seconds, 3001, log_dir)
    daemon, ceiling = burst_load(args.burst, 3002, model, log_dir)
    say(
        "\nThrough dagster-daemon + code server (shipped dagster.yaml, sensor on, a process per run).\n"
        f"{'load':<34} {'records':>8} {'records/s':>10} {'p50 s':>7} {'p95 s':>7}\n" + "-" * 70
    )
    offered = f"steady {args.steady_rate:.0f}/s x {args.steady_seconds:.0f}s, batch 1,000"
    for name, fig in (
        (offered, steady),
        ("burst, batch 100,000 (daemon)", daemon),
        ("burst, batch 100,000 (ceiling)", ceiling),
    ):
        p50, p95 = fig.quantile(0.5), fig.quantile(0.95)
        say(f"{name:<34} {fig.records:>8,} {fig.rate:>10,.0f} {p50:>7.2f} {p95:>7.2f}")
    say(
        f"daemon_throughput_ratio={daemon.rate / ceiling.rate:.3f} "
        f"daemon_p95_latency_s={steady.quantile(0.95):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1000,10000,100000", help="comma-separated batch sizes")
    parser.add_argument("--batches-per-size", type=int, default=2, help="batches produced per size")
    parser.add_argument("--bootstrap", default=None, help="an existing Kafka (default: start our own)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary FLYWHEEL_HOME")
    parser.add_argument("--daemon", action="store_true", help="through dagster-daemon (see above)")
    parser.add_argument("--steady-rate", type=float, default=100.0, help="--daemon: records/s offered")
    parser.add_argument("--steady-seconds", type=float, default=120.0, help="--daemon: how long")
    parser.add_argument("--burst", type=int, default=200_000, help="--daemon: burst records")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    if not batches or min(batches) < 1 or args.batches_per_size < 1:
        parser.error("batch sizes and --batches-per-size must be positive whole numbers")

    wall = time.monotonic()
    home = isolated_home(args.keep, args.bootstrap)
    broker = None
    try:
        if not args.bootstrap:
            from orchestration.infra.kafka_broker import KafkaBroker
            from orchestration.settings import get_settings

            broker = KafkaBroker(get_settings())
            broker.start(timeout=120, log=say)
        if args.daemon:
            run_daemon(args)
            return
        figures = run(batches, args.batches_per_size)
    finally:
        if broker is not None:
            broker.stop(log=say)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)

    say(
        "\nSensor path: real sensor ticks + disaster_score runs via execute_in_process on a real "
        "DagsterInstance\n(the code a daemon-launched run executes, without the daemon's tick interval "
        "and run-launch process start-up; runs one after another).\nCeiling: tight kafka-python "
        "consume + pyfunc predict loop, model loaded once, nothing written.\n"
        "Latency: Kafka record timestamp (producer send) → prediction; each size's burst is produced "
        "in full first.\n"
    )
    say(format_table(figures))
    say(f"\nwhole run took {time.monotonic() - wall:.0f}s")
    best = max(figures, key=lambda f: f.sensor.rate)
    say(
        f"throughput_ratio={best.sensor.rate / best.ceiling.rate:.3f} "
        f"p95_latency_s={best.sensor.quantile(0.95):.3f}"
    )


if __name__ == "__main__":
    main()

"""The landing sensor against a moto S3 server: one run per new file, none for unchanged ones."""

import time
from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    Definitions,
    DynamicPartitionsDefinition,
    asset,
    define_asset_job,
)
from sensor_ticks import tick

from orchestration.settings import Settings
from resources.object_store import ObjectInfo, ObjectStoreResource
from sensors.landing import LandingCursor, build_landing_sensor, plan_new_objects, register_landing_partitions

FILES = DynamicPartitionsDefinition(name="demo_files")


@asset(partitions_def=FILES)
def demo_ingest(context: AssetExecutionContext) -> str:
    return context.partition_key


def _defs(store: ObjectStoreResource) -> tuple[Definitions, object]:
    job = define_asset_job("demo_ingest_job", selection=[demo_ingest], partitions_def=FILES)
    sensor = build_landing_sensor("demo", "demo_ingest_job", FILES, accept=lambda o: o.key.endswith(".csv"))
    return Definitions(
        assets=[demo_ingest], jobs=[job], sensors=[sensor], resources={"object_store": store}
    ), sensor


def _tick(sensor, instance: DagsterInstance, store: ObjectStoreResource, cursor: str | None):
    return tick(sensor, instance, cursor, {"object_store": store})


def test_one_run_per_new_file_and_none_for_unchanged(s3_env: Settings) -> None:
    store = ObjectStoreResource(landing=s3_env.landing, endpoint_url=s3_env.aws_endpoint_url)
    instance = DagsterInstance.get()
    defs, sensor = _defs(store)
    assert defs.resolve_job_def("demo_ingest_job")  # the sensor's job exists in the definitions

    store.write_bytes("demo/a.csv", b"x\n1\n")
    store.write_bytes("demo/b.csv", b"x\n2\n")
    store.write_bytes("demo/notes.txt", b"not data")
    first = _tick(sensor, instance, store, None)
    assert sorted(r.partition_key for r in first.run_requests) == ["demo/a.csv", "demo/b.csv"]
    assert set(instance.get_dynamic_partitions("demo_files")) == {"demo/a.csv", "demo/b.csv"}

    second = _tick(sensor, instance, store, first.cursor)
    assert not getattr(second, "run_requests", None)  # unchanged files: nothing requested

    time.sleep(1.1)  # S3 last-modified has one-second resolution
    store.write_bytes("demo/0-earlier-name.csv", b"x\n3\n")  # sorts before the others: no since_key trap
    store.write_bytes("demo/a.csv", b"x\n1\n4\n")  # replaced content: ingested again, same partition
    third = _tick(sensor, instance, store, first.cursor)
    assert sorted(r.partition_key for r in third.run_requests) == ["demo/0-earlier-name.csv", "demo/a.csv"]
    assert len({r.run_key for r in third.run_requests} | {r.run_key for r in first.run_requests}) == 4
    assert not getattr(_tick(sensor, instance, store, third.cursor), "run_requests", None)

    # The materialize path registers the same files, and only once.
    other = DynamicPartitionsDefinition(name="demo_files_cli")
    accept_csv = lambda o: o.key.endswith(".csv")  # noqa: E731
    added = register_landing_partitions(instance, store, "demo", other, accept=accept_csv)
    assert sorted(added) == ["demo/0-earlier-name.csv", "demo/a.csv", "demo/b.csv"]
    assert register_landing_partitions(instance, store, "demo", other, accept=accept_csv) == []


def test_cursor_round_trip_and_same_second_files() -> None:
    def obj(key: str, second: int) -> ObjectInfo:
        return ObjectInfo(key, 1, datetime.fromtimestamp(second, tz=UTC), "etag")

    cursor = LandingCursor(100.0, ("a",))
    assert LandingCursor.parse(cursor.dump()) == cursor
    assert LandingCursor.parse(None) == LandingCursor()
    # "b" landed in the same second as "a" but after the last tick: it is still new.
    fresh, nxt = plan_new_objects([obj("a", 100), obj("b", 100), obj("old", 90)], cursor)
    assert [o.key for o in fresh] == ["b"]
    assert nxt == LandingCursor(100.0, ("a", "b"))
    assert plan_new_objects([obj("a", 100), obj("b", 100)], nxt) == ([], nxt)

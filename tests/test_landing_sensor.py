"""The landing sensor on a local folder and on a moto S3 server: one run per new file version,
whatever its modification time, none for unchanged files, and runs that know which version they read."""

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    Definitions,
    DynamicPartitionsDefinition,
    MaterializeResult,
    asset,
    define_asset_job,
)
from sensor_ticks import tick

from orchestration.settings import Settings
from resources.object_store import ObjectInfo, ObjectStoreResource
from sensors.landing import (
    OBJECT_TAG,
    OBJECT_VERSION_TAG,
    LandingCursor,
    build_landing_sensor,
    plan_new_objects,
    register_landing_partitions,
)

FILES = DynamicPartitionsDefinition(name="demo_files")


@asset(partitions_def=FILES)
def demo_ingest(context: AssetExecutionContext, object_store: ObjectStoreResource) -> MaterializeResult:
    """Reads its file the way ingest assets do: a snapshot checked against the sensor's version."""
    expected = context.run.tags.get(OBJECT_VERSION_TAG)
    with object_store.snapshot(context.partition_key, expected) as snapshot:
        content = snapshot.path.read_text()
    return MaterializeResult(
        metadata={"content": content, "version": snapshot.version, "version_changed": snapshot.changed}
    )


def _defs(store: ObjectStoreResource) -> tuple[Definitions, object]:
    job = define_asset_job("demo_ingest_job", selection=[demo_ingest], partitions_def=FILES)
    sensor = build_landing_sensor("demo", "demo_ingest_job", FILES, accept=lambda o: o.key.endswith(".csv"))
    return Definitions(
        assets=[demo_ingest], jobs=[job], sensors=[sensor], resources={"object_store": store}
    ), sensor


def _tick(sensor, instance: DagsterInstance, store: ObjectStoreResource, cursor: str | None):
    return tick(sensor, instance, cursor, {"object_store": store})


def _requested(result) -> list[str]:
    return sorted(r.partition_key for r in getattr(result, "run_requests", None) or [])


@pytest.fixture(params=["local", "s3"])
def landing(request: pytest.FixtureRequest) -> tuple[ObjectStoreResource, Settings]:
    """The same tests on a local landing folder and on a moto S3 bucket."""
    settings = request.getfixturevalue("flywheel_env" if request.param == "local" else "s3_env")
    store = ObjectStoreResource(
        landing=settings.landing,
        endpoint_url=settings.aws_endpoint_url,
        cache_dir=str(settings.home / "cache"),
    )
    return store, settings


def _backdate(store: ObjectStoreResource, key: str, when: datetime) -> None:
    """Give an object an old last-modified time, as ``cp -p``/``rsync -t`` do locally and as S3 does
    for a multipart upload (stamped when the upload *started*). moto stamps uploads when they
    complete, so on S3 the time is set in the moto server's backend (it runs in this process)."""
    if not store.is_s3:
        path = os.path.join(store.landing, key)
        os.utime(path, (when.timestamp(), when.timestamp()))
        return
    from moto.s3.models import s3_backends

    bucket, full = store._full_key(key)
    partition, account = s3_backends.bucket_accounts[bucket]
    s3_backends[account][partition].get_object(bucket, full).last_modified = when.astimezone(UTC).replace(
        tzinfo=None
    )


def test_one_run_per_new_file_and_none_for_unchanged(s3_env: Settings) -> None:
    store = ObjectStoreResource(landing=s3_env.landing, endpoint_url=s3_env.aws_endpoint_url)
    instance = DagsterInstance.get()
    defs, sensor = _defs(store)
    assert defs.resolve_job_def("demo_ingest_job")  # the sensor's job exists in the definitions

    store.write_bytes("demo/a.csv", b"x\n1\n")
    store.write_bytes("demo/b.csv", b"x\n2\n")
    store.write_bytes("demo/notes.txt", b"not data")
    first = _tick(sensor, instance, store, None)
    assert _requested(first) == ["demo/a.csv", "demo/b.csv"]
    assert set(instance.get_dynamic_partitions("demo_files")) == {"demo/a.csv", "demo/b.csv"}

    second = _tick(sensor, instance, store, first.cursor)
    assert not _requested(second)  # unchanged files: nothing requested

    store.write_bytes("demo/0-earlier-name.csv", b"x\n3\n")  # sorts before the others: no since_key trap
    store.write_bytes("demo/a.csv", b"x\n1\n4\n")  # replaced content: ingested again, same partition
    third = _tick(sensor, instance, store, first.cursor)
    assert _requested(third) == ["demo/0-earlier-name.csv", "demo/a.csv"]
    assert len({r.run_key for r in third.run_requests} | {r.run_key for r in first.run_requests}) == 4
    assert not _requested(_tick(sensor, instance, store, third.cursor))

    # The materialize path registers the same files, and only once.
    other = DynamicPartitionsDefinition(name="demo_files_cli")
    accept_csv = lambda o: o.key.endswith(".csv")  # noqa: E731
    added = register_landing_partitions(instance, store, "demo", other, accept=accept_csv)
    assert sorted(added) == ["demo/0-earlier-name.csv", "demo/a.csv", "demo/b.csv"]
    assert register_landing_partitions(instance, store, "demo", other, accept=accept_csv) == []


def test_old_dated_files_are_requested_once(landing: tuple[ObjectStoreResource, Settings]) -> None:
    """Files that land with a time older than everything seen (``cp -p``, ``rsync -t``, multipart
    uploads) are still requested, once; a replacement dated in the past too; unchanged files never."""
    store, _settings = landing
    instance = DagsterInstance.get()
    _defs_, sensor = _defs(store)
    store.write_bytes("demo/a.csv", b"x\n1\n")
    store.write_bytes("demo/b.csv", b"x\n2\n")
    first = _tick(sensor, instance, store, None)
    assert _requested(first) == ["demo/a.csv", "demo/b.csv"]

    now = datetime.now(UTC)
    store.write_bytes("demo/hour-old.csv", b"x\n3\n")
    _backdate(store, "demo/hour-old.csv", now - timedelta(hours=1))  # within the lookback window
    store.write_bytes("demo/year-old.csv", b"x\n4\n")
    _backdate(store, "demo/year-old.csv", now - timedelta(days=365))  # below it: a new key all the same
    assert store.info("demo/year-old.csv").last_modified < now - timedelta(days=364)
    second = _tick(sensor, instance, store, first.cursor)
    assert _requested(second) == ["demo/hour-old.csv", "demo/year-old.csv"]
    assert not _requested(_tick(sensor, instance, store, second.cursor))  # requested once

    store.write_bytes("demo/a.csv", b"x\n1\n5\n")  # new content with an old date (cp -p of another file)
    _backdate(store, "demo/a.csv", now - timedelta(hours=2))
    third = _tick(sensor, instance, store, second.cursor)
    assert _requested(third) == ["demo/a.csv"]
    [request] = third.run_requests
    assert request.tags == {OBJECT_TAG: "demo/a.csv", OBJECT_VERSION_TAG: store.info("demo/a.csv").version}
    fourth = _tick(sensor, instance, store, third.cursor)
    assert not _requested(fourth)

    # A retried tick (same cursor) asks for the same run keys, which Dagster runs once.
    assert [r.run_key for r in _tick(sensor, instance, store, second.cursor).run_requests] == [
        request.run_key
    ]

    # The cursor holds key@version within the window only: the year-old file is remembered as a partition.
    seen = LandingCursor.parse(fourth.cursor).seen
    assert set(seen) == {"demo/a.csv", "demo/b.csv", "demo/hour-old.csv"}


def test_an_old_cursor_is_migrated(landing: tuple[ObjectStoreResource, Settings]) -> None:
    """A high-water-mark cursor from before: what it had passed stays passed, what lands later with an
    older date is requested."""
    store, _settings = landing
    instance = DagsterInstance.get()
    _defs_, sensor = _defs(store)
    store.write_bytes("demo/a.csv", b"x\n1\n")
    store.write_bytes("demo/b.csv", b"x\n2\n")
    first = _tick(sensor, instance, store, None)  # registers the partitions, as the old sensor had
    mark = max(o.last_modified.timestamp() for o in store.list("demo/"))
    newest = [o.key for o in store.list("demo/") if o.last_modified.timestamp() == mark]
    old_cursor = json.dumps({"last_modified": mark, "keys": newest})
    assert set(_requested(first)) == {"demo/a.csv", "demo/b.csv"}

    migrated = _tick(sensor, instance, store, old_cursor)
    assert not _requested(migrated)
    assert set(LandingCursor.parse(migrated.cursor).seen) == {"demo/a.csv", "demo/b.csv"}
    store.write_bytes("demo/c.csv", b"x\n3\n")
    _backdate(store, "demo/c.csv", datetime.fromtimestamp(mark, UTC) - timedelta(minutes=5))
    assert _requested(_tick(sensor, instance, store, migrated.cursor)) == ["demo/c.csv"]


def test_run_reads_the_version_the_sensor_saw(landing: tuple[ObjectStoreResource, Settings]) -> None:
    """The run request carries the version; a file rewritten between the tick and the run is read
    whole in its new version and the run says so; the sensor then requests that version too."""
    store, _settings = landing
    instance = DagsterInstance.get()
    defs, sensor = _defs(store)
    job = defs.resolve_job_def("demo_ingest_job")
    store.write_bytes("demo/a.csv", b"x\n1\n")
    first = _tick(sensor, instance, store, None)
    [request] = first.run_requests
    assert request.tags[OBJECT_VERSION_TAG] == store.info("demo/a.csv").version

    def run(request) -> dict:
        result = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        )
        [event] = result.get_asset_materialization_events()
        return {k: v.value for k, v in event.materialization.metadata.items()}

    assert run(request) == {
        "content": "x\n1\n",
        "version": request.tags[OBJECT_VERSION_TAG],
        "version_changed": False,
    }

    store.write_bytes("demo/a.csv", b"x\n1\n2\n")
    changed = _tick(sensor, instance, store, first.cursor)
    [seen_request] = changed.run_requests
    store.write_bytes("demo/a.csv", b"x\n1\n2\n3\n")  # rewritten after the tick, before the run
    late = run(seen_request)
    assert late["version_changed"] is True
    assert late["content"] == "x\n1\n2\n3\n"  # the new version, complete
    assert late["version"] == store.info("demo/a.csv").version != seen_request.tags[OBJECT_VERSION_TAG]

    [newest] = _tick(sensor, instance, store, changed.cursor).run_requests
    assert newest.partition_key == "demo/a.csv"  # the same partition: re-ingested, not duplicated
    assert newest.tags[OBJECT_VERSION_TAG] == late["version"]
    assert run(newest)["version_changed"] is False
    assert instance.get_dynamic_partitions("demo_files") == ["demo/a.csv"]


def _obj(key: str, second: float, version: str = "v1") -> ObjectInfo:
    return ObjectInfo(key, 1, datetime.fromtimestamp(second, tz=UTC), version)


def test_cursor_keeps_a_bounded_window_of_versions() -> None:
    day = 86_400.0
    fresh, cursor = plan_new_objects([_obj("a", 100 * day), _obj("b", 100 * day)], LandingCursor())
    assert [o.key for o in fresh] == ["a", "b"]
    assert LandingCursor.parse(cursor.dump()) == cursor
    assert LandingCursor.parse(None) == LandingCursor()
    assert plan_new_objects([_obj("a", 100 * day), _obj("b", 100 * day)], cursor, {"a", "b"})[0] == []

    # Same second as the newest, older than it, or far older and unknown: all new.
    objects = [_obj("a", 100 * day), _obj("b", 100 * day), _obj("c", 100 * day), _obj("d", 99 * day)]
    objects.append(_obj("e", 10 * day))
    fresh, cursor = plan_new_objects(objects, cursor, {"a", "b"})
    assert [o.key for o in fresh] == ["e", "d", "c"]  # oldest first
    # Far older than the window: not kept by version; its partition remembers it.
    assert set(cursor.seen) == {"a", "b", "c", "d"} and cursor.floor == 93 * day
    assert plan_new_objects(objects, cursor, {"a", "b", "c", "d", "e"})[0] == []

    # A deleted file is forgotten, so landing it again is new.
    _fresh, without_b = plan_new_objects([o for o in objects if o.key != "b"], cursor, {"a", "c", "d", "e"})
    assert "b" not in without_b.seen
    assert [o.key for o in plan_new_objects(objects, without_b, {"a", "c", "d", "e"})[0]] == ["b"]

    # At most max_seen entries: the newest are kept, the floor rises to the oldest kept.
    many = [_obj(f"f{i:02d}", 100 * day + i) for i in range(20)]
    _fresh, small = plan_new_objects(many, LandingCursor(), max_seen=5)
    assert sorted(small.seen) == [f"f{i}" for i in range(15, 20)] and small.floor == 100 * day + 15
    assert plan_new_objects(many, small, {o.key for o in many}, max_seen=5)[0] == []

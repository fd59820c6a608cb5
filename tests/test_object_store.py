"""ObjectStoreResource on a moto S3 server over HTTP, and on a local folder: one code path."""

import shutil
import time
from pathlib import Path

import pytest

from orchestration.settings import Settings
from resources.object_store import ObjectStoreResource


def _store(settings: Settings) -> ObjectStoreResource:
    return ObjectStoreResource(
        landing=settings.landing,
        endpoint_url=settings.aws_endpoint_url,
        cache_dir=str(settings.home / "cache"),
    )


def _exercise(store: ObjectStoreResource) -> None:
    assert store.list("disaster") == []
    store.write_bytes("disaster/messages.csv", b"id,message\n1,help\n")
    store.write_bytes("disaster/categories.csv", b"id,categories\n1,related-1\n")
    store.write_bytes("activity/p1.csv", b"stamp\n")
    keys = [o.key for o in store.list("disaster/")]
    assert keys == ["disaster/categories.csv", "disaster/messages.csv"]
    assert store.read_bytes("disaster/messages.csv") == b"id,message\n1,help\n"
    assert store.exists("activity/p1.csv") and not store.exists("activity/p2.csv")

    before = {o.key: o.version for o in store.list()}
    local = store.local_path("disaster/messages.csv")
    assert Path(local).read_bytes() == b"id,message\n1,help\n"

    time.sleep(1.1)  # S3 last-modified has one-second resolution
    store.write_bytes("disaster/messages.csv", b"id,message\n1,help\n2,water\n")
    after = {o.key: o.version for o in store.list()}
    assert after["disaster/messages.csv"] != before["disaster/messages.csv"]
    assert after["activity/p1.csv"] == before["activity/p1.csv"]
    assert Path(store.local_path("disaster/messages.csv")).read_bytes().endswith(b"2,water\n")

    store.delete("activity/p1.csv")
    assert [o.key for o in store.list("activity")] == []


def test_s3_landing_round_trip(s3_env: Settings) -> None:
    store = _store(s3_env)
    assert store.is_s3
    _exercise(store)
    assert store.uri("disaster/messages.csv").startswith("s3://")
    import boto3

    raw = boto3.client("s3", endpoint_url=s3_env.aws_endpoint_url)
    bucket = s3_env.landing.split("/")[2]
    listed = [o["Key"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "raw/disaster/messages.csv" in listed  # keys sit under the landing prefix


def test_local_landing_round_trip(flywheel_env: Settings) -> None:
    store = _store(flywheel_env)
    assert not store.is_s3
    _exercise(store)
    (Path(flywheel_env.landing) / "disaster" / ".half-uploaded.csv").write_text("x")
    assert all(not o.key.split("/")[-1].startswith(".") for o in store.list())


def test_missing_s3_object_is_a_clear_error(s3_env: Settings) -> None:
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        _store(s3_env).local_path("disaster/nope.csv")


def test_snapshot_reads_one_whole_version_while_the_file_is_rewritten(
    flywheel_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locally a writer that changes the file during the copy makes the copy start over: the snapshot
    is the new version, whole, never a mix; it says the version differs from the one expected."""
    store = _store(flywheel_env)
    store.write_bytes("activity/w.csv", b"old\n" * 1000)
    seen = store.info("activity/w.csv").version
    copy = shutil.copyfile
    calls = []

    def copy_while_rewritten(source, target):
        calls.append(source)
        result = copy(source, target)
        if len(calls) == 1:  # a writer replaces the file in place right after the first copy
            time.sleep(0.01)
            Path(source).write_bytes(b"new\n" * 1500)
        return result

    monkeypatch.setattr("resources.object_store.shutil.copyfile", copy_while_rewritten)
    with store.snapshot("activity/w.csv", expected_version=seen) as snapshot:
        assert snapshot.path.read_bytes() == b"new\n" * 1500
        assert snapshot.changed and snapshot.version == store.info("activity/w.csv").version
        assert snapshot.path.name == "w.csv"  # cleaning reads participant names from file names
        private = snapshot.path
    assert len(calls) == 2 and not private.exists()  # the private copy is gone after the block
    with store.snapshot("activity/w.csv", expected_version=snapshot.version) as again:
        assert not again.changed
    with pytest.raises(FileNotFoundError, match="gone.csv"), store.snapshot("activity/gone.csv"):
        pass


def test_s3_snapshot_is_pinned_to_the_version_it_read(
    s3_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On S3 the download names its version (IfMatch on the ETag): an object replaced between the HEAD
    and the GET is refused by S3 (412) and read again in its new version, whole."""
    store = _store(s3_env)
    store.write_bytes("activity/w.csv", b"old\n" * 1000)
    seen = store.info("activity/w.csv").version
    head = ObjectStoreResource._head
    heads = []

    def head_then_rewrite(self, client, key):
        info = head(self, client, key)
        heads.append(info)
        if len(heads) == 1:  # a writer uploads a new version right after the first HEAD
            self.write_bytes(key, b"new\n" * 1500)
        return info

    monkeypatch.setattr(ObjectStoreResource, "_head", head_then_rewrite)
    with store.snapshot("activity/w.csv", expected_version=seen) as snapshot:
        assert snapshot.path.read_bytes() == b"new\n" * 1500
        assert snapshot.changed and len(heads) == 2
    assert snapshot.version == store.info("activity/w.csv").version


def test_versioned_bucket_objects_carry_their_version_id(s3_env: Settings) -> None:
    import boto3

    store = _store(s3_env)
    bucket = s3_env.landing.split("/")[2]
    raw = boto3.client("s3", endpoint_url=s3_env.aws_endpoint_url)
    raw.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store.write_bytes("activity/a.csv", b"x\n1\n")
    store.write_bytes("activity/a.csv", b"x\n1\n2\n")  # two versions of one key: one object listed
    [listed] = store.list("activity/")
    current = raw.head_object(Bucket=bucket, Key="raw/activity/a.csv")["VersionId"]
    assert listed.version == current == store.info("activity/a.csv").version
    with store.snapshot("activity/a.csv", expected_version=current) as snapshot:
        assert snapshot.path.read_bytes() == b"x\n1\n2\n" and not snapshot.changed
    store.delete("activity/a.csv")  # a delete marker: the object is gone, its versions are not
    assert store.list("activity/") == [] and store.info("activity/a.csv") is None


class _Throttled:
    """The real (moto) client, with ``get_bucket_versioning`` throttled ``times`` times."""

    def __init__(self, client, times: int) -> None:
        self.client, self.times = client, times

    def get_bucket_versioning(self, **kwargs):
        if self.times > 0:
            from botocore.exceptions import ClientError

            self.times -= 1
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "throttled"}}, "GetBucketVersioning")
        return self.client.get_bucket_versioning(**kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_a_throttled_versioning_call_never_changes_object_identities(
    s3_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 (9): one throttled ``GetBucketVersioning`` made every object's version switch from
    its version id to etag:size, so every landing sensor re-ingested everything."""
    import boto3

    from resources import object_store

    store = _store(s3_env)
    bucket = s3_env.landing.split("/")[2]
    raw = boto3.client("s3", endpoint_url=s3_env.aws_endpoint_url)
    raw.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store.write_bytes("flow/a.csv", b"time,value\n")
    real = store._s3()
    monkeypatch.setattr(object_store, "_VERSIONED_BUCKETS", set())
    monkeypatch.setattr(ObjectStoreResource, "_s3", lambda self: _Throttled(real, 2))  # retried
    first = {o.key: o.version for o in store.list("flow/")}
    assert first["flow/a.csv"] == raw.head_object(Bucket=bucket, Key="raw/flow/a.csv")["VersionId"]
    monkeypatch.setattr(ObjectStoreResource, "_s3", lambda self: _Throttled(real, 100))  # known now
    assert {o.key: o.version for o in store.list("flow/")} == first
    monkeypatch.setattr(object_store, "_VERSIONED_BUCKETS", set())  # nothing known, still throttled
    with pytest.raises(Exception, match="throttled"):
        store.list("flow/")


def test_the_download_cache_evicts_the_least_recently_used_past_its_bound(tmp_path: Path) -> None:
    """Issue 22 (14): the S3 download cache had no upper size."""
    import os

    from resources.object_store import evict_cache

    now = time.time()
    ages = {"old": 7200, "older": 9000, "recent": 60, "mid": 3600}
    for name, age in ages.items():
        path = tmp_path / f"digest-{name}" / f"{name}.csv"
        path.parent.mkdir()
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age, now - age))
    freed = evict_cache(tmp_path, 2500, now=now)
    left = sorted(p.name for p in tmp_path.glob("*/*"))
    assert freed == 2000 and left == ["mid.csv", "recent.csv"]  # the two least recently used went
    assert evict_cache(tmp_path, 0, now=now) == 1000 and [p.name for p in tmp_path.glob("*/*")] == [
        "recent.csv"
    ]

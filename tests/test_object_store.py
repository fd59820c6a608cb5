"""ObjectStoreResource on a moto S3 server over HTTP, and on a local folder: one code path."""

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

"""The landing zone: list, read and write objects under ``FLYWHEEL_LANDING``, local or on S3.

Assets and sensors speak in keys relative to the landing root (``disaster/messages.csv``); where
the bytes live is this resource's business. On S3 it goes through dagster-aws's ``S3Resource`` so
``AWS_ENDPOINT_URL`` (a moto server in tests, MinIO or real S3 elsewhere) is honoured the same way
everywhere. Spark, which wants file paths, gets them from :meth:`ObjectStoreResource.local_path`
(a cached download on S3, the file itself locally) unless it reads ``s3a://`` directly.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field


@dataclass(frozen=True)
class ObjectInfo:
    """What the landing sensor needs to tell a new or changed object from one it has seen."""

    key: str
    size: int
    last_modified: datetime
    etag: str

    @property
    def version(self) -> str:
        """A token that changes whenever the object's content is replaced."""
        return f"{self.last_modified.timestamp():.6f}:{self.size}:{self.etag}"


def _split_s3(uri: str) -> tuple[str, str]:
    rest = uri.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


class ObjectStoreResource(ConfigurableResource):
    """Objects under the landing root. ``landing`` is a local path or ``s3://bucket/prefix``."""

    landing: str = Field(description="Local folder or s3://bucket/prefix where raw files land.")
    endpoint_url: str | None = Field(default=None, description="S3 endpoint (MinIO, moto); empty for AWS.")
    region_name: str | None = Field(default=None)
    cache_dir: str | None = Field(
        default=None, description="Where S3 objects are downloaded for local readers."
    )

    @property
    def is_s3(self) -> bool:
        return self.landing.startswith(("s3://", "s3a://"))

    def _s3(self):
        from dagster_aws.s3 import S3Resource  # boto3: imported when S3 is actually used

        return S3Resource(endpoint_url=self.endpoint_url or None, region_name=self.region_name).get_client()

    def _root(self) -> Path:
        return Path(self.landing)

    def _full_key(self, key: str) -> tuple[str, str]:
        bucket, prefix = _split_s3(self.landing)
        return bucket, f"{prefix}/{key.lstrip('/')}" if prefix else key.lstrip("/")

    def uri(self, key: str) -> str:
        """Where an object lives, as a URI Spark or a person can use (``s3a://`` for Spark on S3)."""
        if self.is_s3:
            bucket, full = self._full_key(key)
            return f"s3://{bucket}/{full}"
        return str(self._root() / key)

    # -- listing ------------------------------------------------------------------------------
    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``, sorted by key."""
        if self.is_s3:
            return self._list_s3(prefix)
        root = self._root()
        base = root / prefix
        if not base.exists():
            return []
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        out = []
        for path in files:
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue  # editor swap files and partial uploads are not landed data
            stat = path.stat()
            out.append(
                ObjectInfo(
                    key=path.relative_to(root).as_posix(),
                    size=stat.st_size,
                    last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                    etag=f"{stat.st_ino}-{stat.st_mtime_ns}",
                )
            )
        return sorted(out, key=lambda o: o.key)

    def _list_s3(self, prefix: str) -> list[ObjectInfo]:
        bucket, root_prefix = _split_s3(self.landing)
        full_prefix = f"{root_prefix}/{prefix}" if root_prefix else prefix
        paginator = self._s3().get_paginator("list_objects_v2")
        out = []
        for page in paginator.paginate(Bucket=bucket, Prefix=full_prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"][len(root_prefix) + 1 :] if root_prefix else obj["Key"]
                if key.endswith("/"):
                    continue
                out.append(
                    ObjectInfo(
                        key=key,
                        size=obj["Size"],
                        last_modified=obj["LastModified"],
                        etag=obj.get("ETag", "").strip('"'),
                    )
                )
        return sorted(out, key=lambda o: o.key)

    # -- reading and writing -------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        if self.is_s3:
            bucket, full = self._full_key(key)
            return self._s3().get_object(Bucket=bucket, Key=full)["Body"].read()
        return (self._root() / key).read_bytes()

    def write_bytes(self, key: str, data: bytes) -> str:
        if self.is_s3:
            bucket, full = self._full_key(key)
            self._s3().put_object(Bucket=bucket, Key=full, Body=data)
        else:
            path = self._root() / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.partial")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see half a file
        return self.uri(key)

    def upload_file(self, source: Path, key: str) -> str:
        if self.is_s3:
            bucket, full = self._full_key(key)
            self._s3().upload_file(str(source), bucket, full)
            return self.uri(key)
        path = self._root() / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        shutil.copyfile(source, tmp)
        tmp.replace(path)
        return self.uri(key)

    def exists(self, key: str) -> bool:
        if self.is_s3:
            return any(o.key == key for o in self._list_s3(key))
        return (self._root() / key).is_file()

    def delete(self, key: str) -> None:
        if self.is_s3:
            bucket, full = self._full_key(key)
            self._s3().delete_object(Bucket=bucket, Key=full)
        else:
            (self._root() / key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        """A local file with the object's bytes: the file itself, or a cached S3 download.

        The cache entry is named after the object's version, so a replaced object is fetched anew
        and an unchanged one is downloaded once.
        """
        if not self.is_s3:
            return self._root() / key
        info = next((o for o in self._list_s3(key) if o.key == key), None)
        if info is None:
            raise FileNotFoundError(f"no object {self.uri(key)}")
        digest = hashlib.sha1(info.version.encode()).hexdigest()[:12]
        cache = Path(self.cache_dir or Path.home() / ".cache" / "flywheel" / "s3") / digest
        target = cache / Path(key).name
        if not target.exists():
            cache.mkdir(parents=True, exist_ok=True)
            bucket, full = self._full_key(key)
            tmp = target.with_name(f".{target.name}.partial")
            self._s3().download_file(bucket, full, str(tmp))
            tmp.replace(target)
        return target

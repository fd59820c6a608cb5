"""The landing zone: list, read and write objects under ``FLYWHEEL_LANDING``, local or on S3.

Assets and sensors speak in keys relative to the landing root (``disaster/messages.csv``); where
the bytes live is this resource's business. On S3 it goes through dagster-aws's ``S3Resource`` so
``AWS_ENDPOINT_URL`` (a moto server in tests, MinIO or real S3 elsewhere) is honoured the same way
everywhere. Spark, which wants file paths, gets them from :meth:`ObjectStoreResource.local_path`
(a cached download on S3, the file itself locally) unless it reads ``s3a://`` directly.

Ingest runs read through :meth:`ObjectStoreResource.snapshot` instead: a private copy of exactly one
version of the object, so a file rewritten while a run reads it is never half-read, and the run can
tell whether the version it read is the one the landing sensor saw.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from dagster import ConfigurableResource
from pydantic import Field


@dataclass(frozen=True)
class ObjectInfo:
    """What the landing sensor needs to tell a new or changed object from one it has seen."""

    key: str
    size: int
    last_modified: datetime
    etag: str
    version_id: str | None = None  # S3 with versioning on
    mtime_ns: int | None = None  # local files

    @property
    def version(self) -> str:
        """A token that changes whenever the object's content is replaced, and only then.

        The S3 version id where the bucket keeps versions (it names exactly one upload), else ETag and
        size (S3 gives a new ETag to new content; re-uploading the same bytes is not a change); locally
        size and modification time in nanoseconds. Last-modified alone is not used: ``cp -p``,
        ``rsync -t`` and S3 multipart uploads give new content an old time.
        """
        if self.version_id:
            return self.version_id
        if self.mtime_ns is not None:
            return f"{self.size}:{self.mtime_ns}"
        return f"{self.etag}:{self.size}"


class ObjectChangedError(RuntimeError):
    """An object kept changing while it was being copied: no consistent snapshot could be taken."""


@dataclass(frozen=True)
class Snapshot:
    """A private local copy of one version of an object, and which version that is.

    ``changed`` says the object was replaced after ``expected_version`` was seen (e.g. between a
    sensor tick and its run): ``path`` then holds the newer version, complete.
    """

    path: Path
    info: ObjectInfo
    expected_version: str | None = None

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def changed(self) -> bool:
        return self.expected_version is not None and self.expected_version != self.version


def _local_info(key: str, path: Path) -> ObjectInfo:
    stat = path.stat()
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
        etag=f"{stat.st_ino}-{stat.st_mtime_ns}",
        mtime_ns=stat.st_mtime_ns,
    )


def _version_id(value: str | None) -> str | None:
    """S3 reports ``"null"`` for objects written while versioning was off or suspended."""
    return None if value in (None, "", "null") else value


#: Buckets seen versioned, by (endpoint, bucket): see :meth:`ObjectStoreResource._versioned`.
_VERSIONED_BUCKETS: set[tuple[str, str]] = set()
VERSIONING_ATTEMPTS = 4
_NO_PERMISSION = frozenset({"AccessDenied", "403", "AllAccessDisabled", "MethodNotAllowed"})


#: A cached version used this recently is never evicted (a reader may be about to open it).
CACHE_MIN_AGE_SECONDS = 600.0


def evict_cache(root: Path, max_bytes: int, keep: Path | None = None, now: float | None = None) -> int:
    """Delete the least recently used cached versions (``<digest>/<name>`` folders) until the cache
    is at most ``max_bytes``, sparing ``keep`` and anything used in the last 10 minutes; returns
    the bytes freed. Without a bound the cache of a long-running landing would grow forever."""
    now = time.time() if now is None else now
    entries = []
    for path in root.glob("*/*"):
        if path.is_file() and not path.name.startswith("."):
            stat = path.stat()
            entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _m, size, _p in entries)
    freed = 0
    for mtime, size, path in sorted(entries, key=lambda e: e[0]):
        if total - freed <= max_bytes:
            break
        if path == keep or now - mtime < CACHE_MIN_AGE_SECONDS:
            continue
        path.unlink(missing_ok=True)
        with suppress(OSError):
            path.parent.rmdir()
        freed += size
    return freed


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


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
    cache_max_bytes: int = Field(
        default=20_000_000_000,
        description="Upper size of the download cache: least recently used versions are evicted past it "
        "(never one used in the last 10 minutes).",
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
            try:
                out.append(_local_info(path.relative_to(root).as_posix(), path))
            except FileNotFoundError:
                continue  # removed while listing
        return sorted(out, key=lambda o: o.key)

    def _versioned(self, client, bucket: str) -> bool:
        """Whether the bucket keeps object versions.

        An object's identity (version id, or etag:size) follows from this answer, so one throttled
        call must not flip it: that made every landing sensor see every object as new, and the next
        tick flip back. A bucket once versioned stays so (S3 can suspend versioning, never undo it),
        so that answer is kept for the process; a transient error is retried, then, with no answer
        kept, raised (the tick fails and the next one asks again) rather than guessed. Only a
        refusal to tell (no permission) counts as "not versioned"."""
        cache_key = (self.endpoint_url or "", bucket)
        if cache_key in _VERSIONED_BUCKETS:
            return True
        for attempt in range(VERSIONING_ATTEMPTS):
            try:
                status = client.get_bucket_versioning(Bucket=bucket).get("Status")
                break
            except Exception as exc:  # botocore's ClientError / connection errors
                if _error_code(exc) in _NO_PERMISSION:
                    return False
                if attempt == VERSIONING_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * 2**attempt)
        if status in ("Enabled", "Suspended"):
            _VERSIONED_BUCKETS.add(cache_key)
            return True
        return False

    def _list_s3(self, prefix: str) -> list[ObjectInfo]:
        """Current objects; with versioning on, from the version listing (the latest version of each
        key that is not deleted), so each carries the version id a run can ask for."""
        bucket, root_prefix = _split_s3(self.landing)
        full_prefix = f"{root_prefix}/{prefix}" if root_prefix else prefix
        client = self._s3()
        versioned = self._versioned(client, bucket)
        operation = "list_object_versions" if versioned else "list_objects_v2"
        out = []
        for page in client.get_paginator(operation).paginate(Bucket=bucket, Prefix=full_prefix):
            for obj in page.get("Versions" if versioned else "Contents", []):
                if versioned and not obj.get("IsLatest"):
                    continue
                key = obj["Key"][len(root_prefix) + 1 :] if root_prefix else obj["Key"]
                if key.endswith("/"):
                    continue
                out.append(
                    ObjectInfo(
                        key=key,
                        size=obj["Size"],
                        last_modified=obj["LastModified"],
                        etag=obj.get("ETag", "").strip('"'),
                        version_id=_version_id(obj.get("VersionId")) if versioned else None,
                    )
                )
        return sorted(out, key=lambda o: o.key)

    def _head(self, client, key: str) -> ObjectInfo | None:
        bucket, full = self._full_key(key)
        try:
            head = client.head_object(Bucket=bucket, Key=full)
        except Exception as exc:  # botocore's ClientError
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            last_modified=head["LastModified"],
            etag=head.get("ETag", "").strip('"'),
            version_id=_version_id(head.get("VersionId")),
        )

    def info(self, key: str) -> ObjectInfo | None:
        """The object's current size, time and version (as :meth:`list` reports it), or ``None``."""
        if self.is_s3:
            return self._head(self._s3(), key)
        path = self._root() / key
        try:
            return _local_info(key, path) if path.is_file() else None
        except FileNotFoundError:
            return None

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
        return self.info(key) is not None

    def delete(self, key: str) -> None:
        if self.is_s3:
            bucket, full = self._full_key(key)
            self._s3().delete_object(Bucket=bucket, Key=full)
        else:
            (self._root() / key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        """A local file with the object's bytes: the file itself, or a cached S3 download.

        The cache entry is named after the object's version, so a replaced object is fetched anew
        and an unchanged one is downloaded once. Locally this is the landed file itself, which a
        writer may still change: ingest runs read a :meth:`snapshot`.
        """
        if not self.is_s3:
            return self._root() / key
        return self._download(key).path

    def _cache_root(self) -> Path:
        return Path(self.cache_dir or Path.home() / ".cache" / "flywheel" / "s3")

    def _download(self, key: str, expected_version: str | None = None, attempts: int = 3) -> Snapshot:
        """One version of an S3 object in the version-named cache.

        The GET names the version it wants (``VersionId`` where the bucket keeps versions, else
        ``IfMatch`` with the ETag just read), so the bytes are exactly that version's even if the
        object is overwritten meanwhile; a 412 (overwritten between the HEAD and the GET) starts over.
        One GET rather than ranged parallel ones: those could mix two versions, and s3transfer's
        ``download_file`` accepts no ``IfMatch``.
        """
        client = self._s3()
        bucket, full = self._full_key(key)
        for _ in range(attempts):
            info = self._head(client, key)
            if info is None:
                raise FileNotFoundError(f"no object {self.uri(key)}")
            digest = hashlib.sha1(f"{key}@{info.version}".encode()).hexdigest()[:12]
            target = self._cache_root() / digest / Path(key).name
            if target.exists():
                target.touch()  # recently used: the last to be evicted
                return Snapshot(target, info, expected_version)
            pin = {"VersionId": info.version_id} if info.version_id else {"IfMatch": f'"{info.etag}"'}
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{uuid4().hex[:8]}.partial")
            try:
                body = client.get_object(Bucket=bucket, Key=full, **pin)["Body"]
                with tmp.open("wb") as handle:
                    shutil.copyfileobj(body, handle, 1 << 20)
            except Exception as exc:
                tmp.unlink(missing_ok=True)
                if _error_code(exc) in ("PreconditionFailed", "412"):
                    continue  # replaced between the HEAD and the GET: read the new version
                if _error_code(exc) in ("404", "NoSuchKey", "NoSuchVersion"):
                    raise FileNotFoundError(f"no object {self.uri(key)}") from exc
                raise
            tmp.replace(target)
            evict_cache(self._cache_root(), self.cache_max_bytes, keep=target)
            return Snapshot(target, info, expected_version)
        raise ObjectChangedError(f"{self.uri(key)} was replaced {attempts} times while being downloaded")

    @contextmanager
    def snapshot(
        self, key: str, expected_version: str | None = None, attempts: int = 3
    ) -> Iterator[Snapshot]:
        """A consistent private copy of the object's current version, for the duration of the block.

        ``expected_version`` is the version the caller was told about (the landing sensor's tag);
        the snapshot holds the current version whatever it is, complete, and says whether it differs.
        On S3 it is a pinned download (see :meth:`_download`), kept in the version-named cache. Locally
        the file is copied into a private folder, removed after the block, and its version compared
        before and after the copy: a writer that changed it meanwhile (in place, or by renaming a new
        file over it) makes the copy start over, so Spark never reads a file that changes under it.
        The copy keeps the file name, which cleaning uses (a raw file's participant is its name).
        Raises ``FileNotFoundError`` when the object is gone.
        """
        if self.is_s3:
            yield self._download(key, expected_version, attempts)
            return
        source = self._root() / key
        if self.cache_dir:
            Path(self.cache_dir).mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix="snapshot-", dir=self.cache_dir or None))
        try:
            target = private / Path(key).name
            for _ in range(attempts):
                before = self.info(key)
                if before is None:
                    raise FileNotFoundError(f"no object {self.uri(key)}")
                shutil.copyfile(source, target)
                after = self.info(key)
                if after is not None and after.version == before.version:
                    break
            else:
                raise ObjectChangedError(f"{self.uri(key)} changed {attempts} times while being copied")
            yield Snapshot(target, before, expected_version)
        finally:
            shutil.rmtree(private, ignore_errors=True)

"""What every per-file ingest asset shares: reading one landed object at the version the landing
sensor saw (a private snapshot, or S3 directly), and saying in its metadata which version it read.
The jobs, sensor and ``discover`` of a per-file use case are :class:`assets.usecase.PerFileIngest`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LandedRead:
    """What a file asset's Spark job reads for one landed object, and which version that is."""

    path: str  # a private snapshot, or the object itself (``s3a://``) when Spark reads S3 directly
    version: str
    changed: bool  # the version differs from the one the landing sensor requested
    direct: bool


def version_metadata(context: Any, key: str, read: LandedRead, expected: str | None) -> dict[str, Any]:
    """The ingest's metadata on which version it read, with a warning when the object was replaced
    after the landing sensor saw it (the current version is ingested in full; the sensor requests
    it too, and that run rewrites the slot)."""
    if read.changed:
        context.log.warning(
            f"{key} was replaced after the landing sensor saw version {expected}: ingested the current "
            f"version {read.version} in full (the sensor requests it too; that run rewrites this slot)"
        )
    return {
        "object_version": read.version,
        "requested_version": expected or "none (not started by the landing sensor)",
        "version_changed": read.changed,
    }


@contextmanager
def landed_read(object_store: Any, key: str, expected_version: str | None) -> Iterator[LandedRead]:
    """The object ``key`` as Spark should read it, for the duration of the block.

    With an S3 landing and ``FLYWHEEL_S3_DIRECT=on`` Spark reads the object where it is (``s3a://``,
    no local copy); S3A's change detection fails the read if the object is replaced meanwhile, so the
    version seen first is the one read. Otherwise a consistent private snapshot (see
    ``ObjectStoreResource.snapshot``). Raises ``Failure`` when the object is gone.
    """
    from dagster import Failure

    from orchestration.settings import get_settings

    if object_store.is_s3 and get_settings().s3_direct:
        info = object_store.info(key)
        if info is None:
            raise Failure(f"{object_store.uri(key)} is no longer in the landing")
        direct = "s3a://" + object_store.uri(key).removeprefix("s3://")
        changed = expected_version is not None and info.version != expected_version
        yield LandedRead(direct, info.version, changed, True)
        return
    with object_store.snapshot(key, expected_version) as snapshot:
        yield LandedRead(str(snapshot.path), snapshot.version, snapshot.changed, False)

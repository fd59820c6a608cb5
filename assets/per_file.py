"""The wiring every use case with one landed file per partition shares: an ingest job (one run per
file), a training job over the rest of the group, the landing sensor and ``discover``.

Kept apart from the definitions modules so that each use case states only what differs (names and
descriptions), and light: Dagster only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetSelection,
    DagsterInstance,
    DynamicPartitionsDefinition,
    SensorDefinition,
    define_asset_job,
)

from orchestration.run_tags import train_tags
from sensors.landing import build_landing_sensor, register_landing_partitions


@dataclass(frozen=True)
class PerFileWiring:
    ingest_job: Any
    train_job: Any
    landing_sensor: SensorDefinition
    discover: Callable[[DagsterInstance, dict], list[str]]
    #: Jobs ``flywheel materialize <uc>`` runs, in order.
    materialize_jobs: list[str]


def per_file_wiring(
    use_case: str,
    file_asset: Any,
    partitions_def: DynamicPartitionsDefinition,
    batch_assets: tuple,
    accept: Callable[[Any], bool],
    ingest_description: str,
    train_description: str,
) -> PerFileWiring:
    """Jobs ``<uc>_ingest`` (the file asset, per partition) and ``<uc>_train`` (the group without the
    file asset and the loop's batch assets), the landing sensor requesting ingests, and ``discover``."""
    ingest, train = f"{use_case}_ingest", f"{use_case}_train"
    ingest_job = define_asset_job(
        ingest, selection=[file_asset], partitions_def=partitions_def, description=ingest_description
    )
    train_job = define_asset_job(
        train,
        tags=train_tags(use_case),
        selection=AssetSelection.groups(use_case) - AssetSelection.assets(file_asset, *batch_assets),
        description=train_description,
    )

    def discover(instance: DagsterInstance, resources: dict) -> list[str]:
        """Register every landed data file as a partition (``flywheel materialize``)."""
        return register_landing_partitions(
            instance, resources["object_store"], use_case, partitions_def, accept
        )

    sensor = build_landing_sensor(use_case, ingest, partitions_def, accept=accept)
    return PerFileWiring(ingest_job, train_job, sensor, discover, [ingest, train])


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

"""A use case, declared once: what is particular to it, and one factory for everything else.

Each ``assets/<uc>/definitions.py`` declares ``use_case = UseCase(...)``: how landed files are
ingested (:class:`PerFileIngest`, :class:`BatchIngest` or :class:`TableIngest`), its own assets and
data checks, a :class:`~assets.lifecycle.spec.LifecycleSpec`, a :class:`~assets.loop.factory.LoopSpec`
(whose record schema lives in the use case's package), and its simulator and generator, if any.
:meth:`UseCase.definitions` builds the lifecycle and loop assets, the jobs under one naming scheme
(``<uc>_ingest``, ``<uc>_train``, ``<uc>_score``, ``<uc>_retrain``), the sensors and schedules;
``flywheel materialize``, ``simulate``, ``generate`` and the annotation page read the rest from the
same declaration. Discovery (:mod:`orchestration.use_cases`) finds the declarations: a package under
``assets/`` with a ``definitions.py`` that declares a ``UseCase`` is a use case.

Dagster and the specs only (no Spark, MLflow or model code), so loading a code location stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from dagster import (
    AssetSelection,
    DagsterInstance,
    Definitions,
    DynamicPartitionsDefinition,
    define_asset_job,
)

from assets.lifecycle.factory import build_lifecycle
from assets.lifecycle.spec import LifecycleSpec
from assets.loop.factory import LoopSpec, build_loop
from orchestration.run_tags import TRAIN_TAG, train_tags
from sensors.landing import build_batch_landing_sensor, build_landing_sensor, register_landing_partitions

Discover = Callable[[DagsterInstance, dict], list[str]]


@dataclass(frozen=True)
class IngestWiring:
    """What an ingest mode adds to a use case's definitions."""

    jobs: list
    sensors: list
    #: Leave these out of ``<uc>_train`` (the per-file asset: it runs per partition).
    train_excludes: tuple = ()
    #: ``flywheel materialize`` runs these jobs before ``<uc>_train``.
    materialize_first: tuple[str, ...] = ()
    discover: Discover | None = None


@dataclass(frozen=True)
class TableIngest:
    """The ingest assets read every landed file at once (small landings, or files that only make
    sense together, e.g. messages and their categories). ``<uc>_train`` runs them first;
    ``<uc>_ingest`` runs them alone."""

    assets: tuple
    description: str = "Clean every landed file into the use case's table."
    kind = "table"

    def wire(self, name: str) -> IngestWiring:
        job = define_asset_job(
            f"{name}_ingest", tags=train_tags(name), selection=list(self.assets), description=self.description
        )
        return IngestWiring(jobs=[job], sensors=[])


@dataclass(frozen=True)
class BatchIngest:
    """One run of an unpartitioned ingest asset per landing-sensor tick that sees new or changed
    files, however many (records that are many small files, where a run per file costs more than
    the file). ``ingested`` says which keys are already in the table."""

    asset: Any
    accept: Callable[[Any], bool]
    ingested: Callable[[], Collection[str]]
    description: str = "Ingest every new landed file (one run per batch of new files)."
    kind = "batch"

    @property
    def assets(self) -> tuple:
        return (self.asset,)

    def wire(self, name: str) -> IngestWiring:
        # Queued like training, one run of the use case at a time: ingest runs share the staging
        # and the decoded slots, and the training job writes them too.
        job = define_asset_job(
            f"{name}_ingest", tags={TRAIN_TAG: name}, selection=[self.asset], description=self.description
        )
        sensor = build_batch_landing_sensor(name, job.name, self.accept, self.ingested)
        return IngestWiring(jobs=[job], sensors=[sensor])


@dataclass(frozen=True)
class PerFileIngest:
    """Each landed file is a dynamic partition of ``asset``: the landing sensor requests one
    ``<uc>_ingest`` run per new or changed file, and ``flywheel materialize`` registers them."""

    asset: Any
    partitions: DynamicPartitionsDefinition
    accept: Callable[[Any], bool]
    description: str = "Clean one landed file (one run per file, started by the landing sensor)."
    kind = "per-file"

    @property
    def assets(self) -> tuple:
        return (self.asset,)

    def wire(self, name: str) -> IngestWiring:
        job = define_asset_job(
            f"{name}_ingest",
            selection=[self.asset],
            partitions_def=self.partitions,
            description=self.description,
        )

        def discover(instance: DagsterInstance, resources: dict) -> list[str]:
            """Register every landed data file as a partition (``flywheel materialize``)."""
            return register_landing_partitions(
                instance, resources["object_store"], name, self.partitions, self.accept
            )

        sensor = build_landing_sensor(name, job.name, self.partitions, accept=self.accept)
        return IngestWiring([job], [sensor], (self.asset,), (job.name,), discover)


Ingest = TableIngest | BatchIngest | PerFileIngest


@dataclass(frozen=True)
class UseCase:
    """Everything particular to one use case; :meth:`definitions` builds the rest.

    ``assets``: the use case's own assets besides the ingest ones (clean tables, features, reports);
    ``checks``: its data checks; ``simulator``: a module with ``KEY_FIELD`` and
    ``records(home, count, seed)`` (``flywheel simulate``); ``generator``: ``"module:command"``, a
    click command writing landing files at scale (``flywheel generate <uc>``).
    """

    name: str
    spec: LifecycleSpec
    ingest: Ingest
    loop: LoopSpec | None = None
    assets: Sequence = ()
    checks: Sequence = ()
    train_description: str = "Clean the landed files, check them, train challengers, evaluate, promote."
    simulator: str | None = None
    generator: str | None = None
    summary: str = ""

    def __post_init__(self) -> None:
        if self.loop is None and self.spec.annotations:
            raise ValueError(
                f"{self.name}: LifecycleSpec(annotations=True) trains on <uc>_annotations, which the loop "
                "builds; declare a LoopSpec or set annotations=False"
            )

    @cached_property
    def lifecycle(self) -> Any:
        return build_lifecycle(self.spec)

    @cached_property
    def loop_definitions(self) -> Any:
        return build_loop(self.spec, self.loop) if self.loop is not None else None

    @cached_property
    def _ingest_wiring(self) -> IngestWiring:
        return self.ingest.wire(self.name)

    @property
    def batch_assets(self) -> list:
        return self.loop_definitions.batch_assets if self.loop_definitions else []

    @property
    def materialize_jobs(self) -> list[str]:
        """Jobs ``flywheel materialize <uc>`` runs, in order (partitioned ones once per new key)."""
        return [*self._ingest_wiring.materialize_first, f"{self.name}_train"]

    @property
    def landing_sensor(self) -> Any:
        """The sensor that starts ``<uc>_ingest`` from new landed files (None: whole-table ingest)."""
        return self._ingest_wiring.sensors[0] if self._ingest_wiring.sensors else None

    def discover(self, instance: DagsterInstance, resources: dict) -> list[str]:
        """Register newly landed files as partitions, where the ingest is per file."""
        found = self._ingest_wiring.discover
        return found(instance, resources) if found else []

    def _train_job(self) -> Any:
        excluded = AssetSelection.assets(*self._ingest_wiring.train_excludes, *self.batch_assets)
        return define_asset_job(
            f"{self.name}_train",
            tags=train_tags(self.name),
            selection=AssetSelection.groups(self.name) - excluded,
            description=self.train_description,
        )

    @cached_property
    def defs(self) -> Definitions:
        """Assets, checks, jobs, sensors and schedules of the use case (resources are shared)."""
        loop, wiring = self.loop_definitions, self._ingest_wiring
        return Definitions(
            assets=[
                *self.ingest.assets,
                *self.assets,
                *self.lifecycle.assets,
                *(loop.assets if loop else []),
            ],
            asset_checks=[*self.checks, *self.lifecycle.checks],
            jobs=[*wiring.jobs, self._train_job(), *(loop.jobs if loop else [])],
            sensors=[*wiring.sensors, *(loop.sensors if loop else [])],
            schedules=loop.schedules if loop else [],
        )

    def definitions(self) -> Definitions:
        return self.defs

"""What every kit use case shares: landed CSVs cleaned by Spark into ``<uc>_clean`` (quarantine with
reasons, counts), GX checks on it, a ``<uc>_training_table`` of labelled rows, the shared lifecycle
with the holdout drawn from ground truth, and the loop on ``<uc>.records``. :class:`KitUseCase` holds
the declaration; the text and tabular kits add what differs (labeling functions, feature columns).

Dagster only: Spark, pandas, GX and the trainers are imported where they are used.
"""

import importlib
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetExecutionContext, AssetIn, AssetKey, Failure, MetadataValue, asset

from assets.lazy import resolve
from assets.lifecycle.spec import ContentKey, LabelledTable, LifecycleSpec
from assets.loop.factory import LoopSpec
from assets.loop.records import RecordSchema
from assets.quality.checks import gx_asset_check
from assets.slots import tables_dir, write_slot
from assets.usecase import TableIngest, UseCase
from resources.object_store import ObjectStoreResource
from resources.spark import SparkResource


@dataclass(frozen=True)
class KitUseCase:
    """A kit use case's declaration. ``labels``: the classes (multi-class) or label names
    (multi-label); None takes them from the labelled rows. ``parse``, ``trainers`` and
    ``extra_trainers`` are ``"module:attribute"`` references (default: the use case's own
    ``parsing:clean`` and ``model:TRAINERS`` / ``model:EXTRA_TRAINERS``), resolved when a run needs
    them, so the code location stays light."""

    name: str
    labels: tuple[str, ...] | None = None
    multilabel: bool = False
    parse: str = ""
    trainers: str = ""
    extra_trainers: str = ""
    primary_metric: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)
    tolerance: float = 0.02
    strategy: str = ""
    budget: int = 20
    batch_size: int = 500
    retrain_min_labels: int = 50
    summary: str = ""

    #: Overridden by each kit -------------------------------------------------------------------
    #: What the clean table and a record carry besides the id (and the label).
    def drift_inputs(self) -> Any:
        """What input drift is measured on (``assets.monitoring.inputs``); None: answers only."""
        return None

    def record_fields(self) -> tuple[str, ...]:
        raise NotImplementedError

    def content_key(self) -> ContentKey | None:
        """How two rows are the same record whatever their ids (None: by id only)."""
        return None

    def extra_checks(self) -> list:
        return []

    def clean(self, spark: Any, object_store: ObjectStoreResource, keys: list[str]) -> Any:
        """Run the use case's ``parsing.clean`` (``spark, local paths, kit``) on the landed ``keys``."""
        from assets.kits.cleaning import with_landing_keys

        paths = {str(object_store.local_path(k)): k for k in keys}
        result = resolve(self.parse or f"assets.{self.name}.parsing:clean")(spark, list(paths), self)
        return with_landing_keys(result, paths)

    def landed(self, object_store: ObjectStoreResource) -> list[str]:
        """The landed objects the cleaning reads (default: every CSV under ``<landing>/<uc>/``)."""
        return sorted(o.key for o in object_store.list(f"{self.name}/") if o.key.lower().endswith(".csv"))

    def training_table(self, clean: Any) -> tuple[LabelledTable, dict]:
        """The lifecycle's source table from the clean rows (a pandas frame), and its metadata."""
        from assets.kits.labels import ground_truth_table

        return ground_truth_table(self, clean, tables_dir(self.name))

    # -- shared ---------------------------------------------------------------------------------
    @property
    def clean_key(self) -> AssetKey:
        return AssetKey(f"{self.name}_clean")

    @property
    def training_key(self) -> AssetKey:
        return AssetKey(f"{self.name}_training_table")

    @property
    def label_column(self) -> str:
        return "labels" if self.multilabel else "label"

    def use_case(self) -> UseCase:
        checks = [*data_checks(self), *self.extra_checks()]
        return UseCase(
            name=self.name,
            spec=lifecycle_spec(self, [spec.key for c in checks for spec in c.check_specs]),
            ingest=TableIngest((clean_asset(self),), "Clean every landed file into the clean table."),
            loop=loop_spec(self),
            assets=(training_asset(self),),
            checks=checks,
            train_description="Clean the landed files, check them, build the training table, train "
            "challengers, evaluate, promote through the gate.",
            simulator=f"assets.{self.name}.simulation",
            summary=self.summary,
        )


def record_schema(kit: KitUseCase) -> RecordSchema:
    """``assets/<uc>/schema.py: RECORD_SCHEMA`` (a pure module the annotation page reads too)."""
    return importlib.import_module(f"assets.{kit.name}.schema").RECORD_SCHEMA


def loop_spec(kit: KitUseCase) -> LoopSpec:
    return LoopSpec(
        schema=record_schema(kit),
        strategy=kit.strategy or ("entropy" if kit.multilabel else "least_confidence"),
        budget=kit.budget,
        batch_size=kit.batch_size,
        retrain_min_labels=kit.retrain_min_labels,
        drift_inputs=kit.drift_inputs(),
    )


def lifecycle_spec(kit: KitUseCase, checks: list) -> LifecycleSpec:
    return LifecycleSpec(
        use_case=kit.name,
        source=kit.training_key,
        record_columns=("id", *kit.record_fields()),
        trainers=kit.trainers or f"assets.{kit.name}.model:TRAINERS",
        extra_trainers=kit.extra_trainers or f"assets.{kit.name}.model:EXTRA_TRAINERS",
        primary_metric=kit.primary_metric or ("weighted_f2" if kit.multilabel else "macro_f1"),
        # Absolute floor by default: beat the best constant guess (multi-class) or score at all.
        thresholds=kit.thresholds or ({"weighted_f2": 0.3} if kit.multilabel else {"accuracy_lift": 0.05}),
        tolerance=kit.tolerance,
        task="multilabel" if kit.multilabel else "multiclass",
        data_checks=checks,
        pip_requirements=f"assets.{kit.name}.model:pip_requirements",
        annotations=True,
        # Held-out metrics are measured against the source's labels (or people), never rules.
        holdout_eligible=_ground_truth,
        content_key=kit.content_key(),
    )


def _ground_truth(frame: Any) -> Any:
    from assets.kits.labels import GROUND_TRUTH

    return frame["label_source"] == GROUND_TRUTH


def clean_asset(kit: KitUseCase) -> Any:
    @asset(
        name=kit.clean_key.path[-1],
        group_name=kit.name,
        kinds={"spark", "parquet"},
        description=f"Every landed file under <landing>/{kit.name}/ cleaned by Spark; removed rows "
        "quarantined with a reason.",
    )
    def _clean(
        context: AssetExecutionContext, spark: SparkResource, object_store: ObjectStoreResource
    ) -> LabelledTable:
        keys = kit.landed(object_store)
        if not keys:
            raise Failure(
                f"nothing landed under {object_store.uri(kit.name)}/: see docs/use-cases/{kit.name}.md"
            )
        try:
            result = kit.clean(spark.spark_session, object_store, keys)
        except ValueError as exc:  # a file without the columns the format needs: say which
            raise Failure(str(exc)) from exc
        out = tables_dir(kit.name)
        # Replaced whole and atomically: a re-run rewrites the tables, never adds to them.
        write_slot(result.kept, out / "clean")
        write_slot(result.quarantine, out / "quarantine")
        context.add_output_metadata(
            {
                **result.counts,
                "source_files": MetadataValue.json(keys),
                "quarantine_path": MetadataValue.path(str(out / "quarantine")),
            }
        )
        return LabelledTable(str(out / "clean"), tuple(kit.labels or ()), "id", kit.label_column)

    return _clean


def _gx() -> Any:
    """``great_expectations.expectations``, imported when a check runs."""
    import great_expectations as gx

    return gx.expectations


def data_checks(kit: KitUseCase) -> list:
    def ids_unique(_table: LabelledTable, _frame: Any) -> list:
        return [_gx().ExpectColumnValuesToBeUnique(column="id")]

    def some_labelled(_table: LabelledTable, frame: Any) -> list:
        least = 1 / max(len(frame), 1)  # one labelled row at least
        return [_gx().ExpectColumnValuesToNotBeNull(column=kit.label_column, mostly=least)]

    checks = {
        f"{kit.name}_ids_unique": ("Record ids are unique.", ids_unique),
        f"{kit.name}_some_labelled": ("At least one row carries a label (ground truth).", some_labelled),
    }
    return [gx_asset_check(kit.clean_key, name, desc, fn) for name, (desc, fn) in checks.items()]


def training_asset(kit: KitUseCase) -> Any:
    @asset(
        name=kit.training_key.path[-1],
        group_name=kit.name,
        ins={"clean": AssetIn(kit.clean_key)},
        kinds={"pandas", "parquet"},
        description="The labelled rows the lifecycle trains and holds out from, with where each label "
        "came from (label_source).",
    )
    def _training(context: AssetExecutionContext, clean: LabelledTable) -> LabelledTable:
        try:
            table, metadata = kit.training_table(clean.read())
        except ValueError as exc:  # too few classes: say so, not a traceback
            raise Failure(str(exc)) from exc
        context.add_output_metadata(metadata)
        return table

    return _training

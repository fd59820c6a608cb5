"""Dagster wiring of the active-learning loop for one use case.

- ``<uc>_scored_batch`` (a dynamic partition per Kafka offset range): reads exactly that range,
  dead-letters poison messages with their reason, scores the rest with the champion (loaded once,
  pinned to its version), writes the predictions table partition and publishes to
  ``<uc>.predictions``. Re-running a partition rewrites the same table rows (never duplicates); the
  predictions topic is keyed by ``<partition>:<offset>`` so a compacted topic keeps one per record.
- ``<uc>_annotation_candidates`` (same partitions): uncertainty sampling with a per-batch budget;
  chosen records enter the annotation queue with their score (already queued ones are left alone).
- ``<uc>_annotations``: the labels people gave, joined to the records they label, as training rows.
  The training set appends them (never to the frozen holdout).
- Sensors: ``<uc>_kafka_sensor`` (offset batches), ``<uc>_retrain_sensor`` (new labels >= N), and a
  nightly ``<uc>_nightly_retrain`` schedule, both running ``<uc>_retrain``.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    AssetSelection,
    Config,
    DynamicPartitionsDefinition,
    Failure,
    JobDefinition,
    MetadataValue,
    ScheduleDefinition,
    SensorDefinition,
    asset,
    define_asset_job,
)

from assets.lifecycle.spec import LabelledTable, LifecycleSpec
from assets.loop.records import RecordSchema, parse_message, parse_ranges_key
from assets.loop.uncertainty import multiclass_scores, multilabel_scores, select
from orchestration.settings import get_settings
from resources.annotation_store import AnnotationStoreResource
from resources.kafka import KafkaResource
from resources.mlflow_registry import CHAMPION, MlflowResource
from sensors.kafka import build_kafka_sensor
from sensors.retrain import build_retrain_sensor

PROBA_PREFIX = "proba__"
#: Columns of every predictions partition, besides one ``proba__<class>`` per class.
PREDICTION_COLUMNS = (
    "key",
    "topic",
    "partition",
    "offset",
    "model_version",
    "prediction",
    "produced_at",
    "scored_at",
    "record",
)


@dataclass(frozen=True)
class LoopSpec:
    """How a use case's stream is scored and sampled, and when labels trigger retraining."""

    schema: RecordSchema
    strategy: str = "entropy"
    aggregate: str = "mean"  # multi-label: how per-label uncertainties combine
    budget: int = 20  # samples per batch sent to annotators
    batch_size: int = 1000
    max_wait_seconds: float = 60.0
    retrain_min_labels: int = 50
    nightly_cron: str = "0 2 * * *"
    #: The topic records arrive on: ``<prefix><uc>.<topic_kind>`` (``tweets.raw`` for tweets).
    topic_kind: str = "records"
    #: Upstream assets a retraining must refresh too (e.g. weak labels that take in page labels).
    retrain_assets: tuple[str, ...] = ()


@dataclass
class LoopDefinitions:
    assets: list[AssetsDefinition]
    jobs: list[JobDefinition]
    sensors: list[SensorDefinition]
    schedules: list[ScheduleDefinition]
    partitions: DynamicPartitionsDefinition

    @property
    def batch_assets(self) -> list[AssetsDefinition]:
        """The per-batch (partitioned) assets, which whole-graph jobs must leave out."""
        return [a for a in self.assets if a.partitions_def is not None]


class SamplingConfig(Config):
    strategy: str = ""  # empty: the use case's default
    budget: int = -1  # negative: the use case's default


def batch_slot(partition_key: str) -> str:
    """A folder name for an offset-range key (no ``=``, which would read as a Hive partition)."""
    return partition_key.replace("=", "_").replace(",", "+")


def tables(use_case: str, name: str) -> Path:
    return get_settings().data_dir("tables", use_case, name)


def predictions_table(use_case: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Every scored record so far (one row per topic offset), for dashboards, tests and benchmarks;
    ``columns`` reads only those (the probability and record columns are most of the bytes)."""
    root = tables(use_case, "predictions")
    files = sorted(root.glob("batch=*/*.parquet"))
    if not files:
        return pd.DataFrame(columns=columns)
    return pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)


def _write_partition(frame: pd.DataFrame, use_case: str, name: str, slot: str) -> Path:
    folder = tables(use_case, name) / f"batch={slot}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-0.parquet"
    tmp = folder / ".part-0.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)  # atomic: a re-run replaces the partition, a crash never leaves half a file
    return path


def _prediction_text(value: Any) -> str:
    return json.dumps(list(value)) if isinstance(value, list | tuple | np.ndarray) else str(value)


def build_loop(spec: LifecycleSpec, loop: LoopSpec) -> LoopDefinitions:  # noqa: C901 - one closure per asset
    uc = spec.use_case
    batches = DynamicPartitionsDefinition(name=f"{uc}_batches")
    schema = loop.schema

    @asset(
        name=f"{uc}_scored_batch",
        group_name=uc,
        partitions_def=batches,
        kinds={"kafka", "mlflow", "parquet"},
        description="One Kafka offset range scored by the champion; poison messages dead-lettered.",
    )
    def scored_batch(
        context: AssetExecutionContext, kafka: KafkaResource, mlflow_registry: MlflowResource
    ) -> dict[str, Any]:
        settings = get_settings()
        key = context.partition_key
        ranges = parse_ranges_key(key)
        topic = settings.topic(uc, loop.topic_kind)
        expected = sum(e - s for s, e in ranges.values())
        messages = list(kafka.read_range(topic, ranges))
        if len(messages) != expected:
            raise Failure(
                f"{topic} {key}: read {len(messages)} of {expected} records (deleted by retention?)"
            )
        registry = mlflow_registry.registry()
        champion = registry.get_alias(uc, CHAMPION)
        if champion is None:
            raise Failure(
                f"no {uc} champion to score with: materialize {uc} first (flywheel materialize {uc})"
            )
        version = str(champion.version)
        started = time.time()
        good, poison = [], []
        for message in messages:
            record, reason = parse_message(message.value, schema)
            (good if record is not None else poison).append((message, record or reason))
        # The fixed columns even when every message was poison, so the table always reads the same.
        predictions = pd.DataFrame(columns=list(PREDICTION_COLUMNS))
        if good:
            mlflow.set_tracking_uri(registry.tracking_uri)
            model = mlflow.pyfunc.load_model(f"models:/{uc}/{version}")
            frame = pd.DataFrame([r for _m, r in good])
            output = model.predict(frame)
            labels = [c for c in output.columns if c != "prediction"]
            scored_at = time.time()
            predictions = pd.DataFrame(
                {
                    "key": frame[schema.key_field].astype(str).to_numpy(),
                    "topic": topic,
                    "partition": [m.partition for m, _r in good],
                    "offset": [m.offset for m, _r in good],
                    "model_version": version,
                    "prediction": [_prediction_text(v) for v in output["prediction"]],
                    **{f"{PROBA_PREFIX}{c}": output[c].to_numpy(dtype=float) for c in labels},
                    "produced_at": [m.timestamp_ms / 1000.0 for m, _r in good],
                    "scored_at": scored_at,
                    "record": [json.dumps(r, default=str) for _m, r in good],
                }
            )
        deadletter = pd.DataFrame(
            {
                "topic": topic,
                "partition": [m.partition for m, _r in poison],
                "offset": [m.offset for m, _r in poison],
                "key": [m.key for m, _r in poison],
                "reason": [r for _m, r in poison],
                "value": [(m.value or b"").decode("utf-8", errors="replace")[:10_000] for m, _r in poison],
            }
        )
        slot = batch_slot(key)
        path = _write_partition(predictions, uc, "predictions", slot)
        _write_partition(deadletter, uc, "deadletter", slot)
        kafka.ensure_topic(settings.topic(uc, "predictions"))
        kafka.ensure_topic(settings.topic(uc, "deadletter"))
        if len(predictions):
            out = predictions.drop(columns=["record"])
            out.insert(0, "id", out["partition"].astype(str) + ":" + out["offset"].astype(str))
            kafka.send_json(settings.topic(uc, "predictions"), out.to_dict(orient="records"), key_field="id")
        if len(deadletter):
            dead = deadletter.assign(
                id=deadletter["partition"].astype(str) + ":" + deadletter["offset"].astype(str)
            )
            kafka.send_json(settings.topic(uc, "deadletter"), dead.to_dict(orient="records"), key_field="id")
        latency = (
            (predictions["scored_at"] - predictions["produced_at"]) if len(predictions) else pd.Series([])
        )
        context.add_output_metadata(
            {
                "rows_in": len(messages),
                "rows_scored": len(predictions),
                "rows_deadlettered": len(deadletter),
                "deadletter_reasons": MetadataValue.json(deadletter["reason"].value_counts().to_dict()),
                "model_version": version,
                "score_seconds": round(time.time() - started, 3),
                "latency_p50_s": float(latency.quantile(0.5)) if len(latency) else 0.0,
                "latency_p95_s": float(latency.quantile(0.95)) if len(latency) else 0.0,
                "predictions_path": MetadataValue.path(str(path)),
            }
        )
        return {"path": str(path), "rows": len(predictions), "model_version": version, "offsets": key}

    @asset(
        name=f"{uc}_annotation_candidates",
        group_name=uc,
        partitions_def=batches,
        ins={"batch": AssetIn(scored_batch.key)},
        kinds={"sql"},
        description=f"Most uncertain records of the batch ({loop.strategy}, budget {loop.budget}) → queue.",
    )
    def annotation_candidates(
        context: AssetExecutionContext, config: SamplingConfig, annotations: AnnotationStoreResource,
        batch: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        strategy = config.strategy or loop.strategy
        budget = config.budget if config.budget >= 0 else loop.budget
        frame = pd.read_parquet(batch["path"]) if batch["rows"] else pd.DataFrame()
        if frame.empty:
            context.add_output_metadata({"candidates": 0, "queued": 0})
            return {"queued": 0}
        proba = frame[[c for c in frame.columns if c.startswith(PROBA_PREFIX)]].to_numpy(dtype=float)
        if spec.task == "multilabel":
            scores = multilabel_scores(proba, strategy, loop.aggregate)  # type: ignore[arg-type]
        else:
            scores = multiclass_scores(proba, strategy)  # type: ignore[arg-type]
        chosen = select(scores, budget)
        samples = [
            {
                "sample_id": frame["key"].iat[i],
                "payload": json.loads(frame["record"].iat[i]),
                "score": float(scores[i]),
                "strategy": strategy,
                "model_version": frame["model_version"].iat[i],
            }
            for i in chosen
        ]
        queued = annotations.store().enqueue(uc, samples)
        context.add_output_metadata(
            {
                "strategy": strategy,
                "budget": budget,
                "candidates": len(samples),
                "queued": queued,
                "already_queued": len(samples) - queued,
                "score_min_chosen": float(scores[chosen].min()) if len(chosen) else 0.0,
                "score_median_batch": float(np.median(scores)),
            }
        )
        return {"queued": queued, "sample_ids": [s["sample_id"] for s in samples]}

    @asset(
        name=f"{uc}_annotations",
        group_name=uc,
        ins={"source": AssetIn(spec.source)},
        kinds={"sql", "parquet"},
        description="Labels given on the annotation page, joined to their records, as training rows.",
    )
    def annotations_asset(
        context: AssetExecutionContext, annotations: AnnotationStoreResource, source: LabelledTable
    ) -> LabelledTable:
        rows, skipped = [], {"no_record": 0, "unknown_label": 0}
        known = set(source.labels)
        store = annotations.store()
        for item in store.labelled_samples(uc):
            payload, label = item["payload"], item["label"]
            if payload is None:
                skipped["no_record"] += 1
                continue
            given = label if isinstance(label, list) else [label]
            if not set(given) <= known:
                skipped["unknown_label"] += 1
                continue
            row = {**payload, source.id_column: str(item["sample_id"])}
            if spec.task == "multilabel":
                row.update({name: int(name in given) for name in source.labels})
            else:
                row[source.label_column] = given[0]
            rows.append(row)
        frame = pd.DataFrame(rows)
        path = get_settings().data_dir("lifecycle", uc) / "annotations.parquet"
        frame.to_parquet(path, index=False)
        context.add_output_metadata(
            {
                "labelled_rows": len(frame),
                "skipped_no_record": skipped["no_record"],
                "skipped_unknown_label": skipped["unknown_label"],
                "last_label_id": store.last_label_id(uc),
            }
        )
        return LabelledTable(str(path), source.labels, source.id_column, source.label_column)

    score_job = define_asset_job(
        f"{uc}_score",
        selection=[scored_batch, annotation_candidates],
        partitions_def=batches,
        description="Score one Kafka offset range with the champion and queue its most uncertain records.",
    )
    retrain_job = define_asset_job(
        f"{uc}_retrain",
        selection=AssetSelection.assets(annotations_asset)
        | AssetSelection.assets(
            *(spec.key(s) for s in ("training_set", "challenger", "evaluation", "champion"))
        )
        | AssetSelection.assets(*loop.retrain_assets),
        description="New labels → training set → challenger → evaluation → gated promotion.",
    )
    sensors = [
        build_kafka_sensor(
            uc,
            lambda: get_settings().topic(uc, loop.topic_kind),
            score_job.name,
            batches,
            loop.batch_size,
            loop.max_wait_seconds,
        ),
        build_retrain_sensor(uc, retrain_job.name, loop.retrain_min_labels),
    ]
    nightly = ScheduleDefinition(
        name=f"{uc}_nightly_retrain",
        job=retrain_job,
        cron_schedule=loop.nightly_cron,
        description="Retrain every night, whatever the label count (picks up labels below the sensor's N).",
    )
    return LoopDefinitions(
        assets=[scored_batch, annotation_candidates, annotations_asset],
        jobs=[score_job, retrain_job],
        sensors=sensors,
        schedules=[nightly],
        partitions=batches,
    )

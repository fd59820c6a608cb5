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

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    in_process_executor,
)

from assets.lifecycle.spec import LabelledTable, LifecycleSpec
from assets.loop.monitoring import drift_asset, live_quality_asset
from assets.loop.records import (
    PROBA_PREFIX,
    RecordSchema,
    key_topic_tag,
    parse_ranges_key,
    prepare_record,
    topic_tag,
)
from orchestration.run_tags import CHAMPION_URI_TAG, CHAMPION_VERSION_TAG, score_tags, train_tags
from orchestration.settings import get_settings
from resources.annotation_resource import AnnotationStoreResource
from resources.kafka import KafkaResource
from resources.mlflow_registry import MlflowResource
from sensors.kafka import build_kafka_sensor
from sensors.rescore import build_rescore_sensor
from sensors.retrain import build_live_quality_sensor, build_retrain_sensor

if TYPE_CHECKING:  # pandas, numpy and MLflow are imported by the steps that use them
    from pathlib import Path

    import pandas as pd


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
    #: Scores a batch from the records' history instead of record by record (Sparkify: a user's risk
    #: needs all their events): ``(model, records) -> output`` with one row per record (a column per
    #: label + ``prediction``). None: ``model.predict(records)``. May be lazy (``"module:function"``).
    history_scorer: Any = None
    #: Delayed ground truth: ``() -> int``, how many outcomes are resolved so far; the retrain sensor
    #: counts those (``retrain_min_labels`` new ones since the last request) instead of page labels.
    #: None: page labels. May be lazy.
    outcome_counter: Any = None
    #: Records scored with their series' past (time series): a lazy ``"module:function"`` taking the
    #: batch's records frame and returning ``(context, rows)`` — the frame the champion scores (the
    #: batch plus the preceding readings it keeps) and, per batch record in order, its row there.
    #: None: the batch is scored as it is.
    scoring_context: str | None = None
    #: Records predicted as this class are also published to ``<uc>.alerts`` (None: no alerts topic).
    alert_class: str | None = None
    #: Records larger than Kafka's 1 MB defaults (gravityspy: four PNGs a record): the records topic is
    #: created with ``max.message.bytes`` this large and batches are read with fetches this large.
    max_message_bytes: int | None = None
    #: What input drift is measured on (``assets.monitoring.inputs``: ``TextDrift("message")``,
    #: ``NumericDrift((...))``); None: the model's answers only (confidence, top class).
    drift_inputs: Any = None
    #: Delayed ground truth as labels of scored records, for live quality: ``() -> [label rows]`` in
    #: the shape of ``AnnotationStore.scored_labels`` with ``strategy="outcome"``. May be lazy.
    live_outcomes: Any = None


@dataclass
class LoopDefinitions:
    assets: list[AssetsDefinition]
    jobs: list[JobDefinition]
    sensors: list[SensorDefinition]
    schedules: list[ScheduleDefinition]
    partitions: DynamicPartitionsDefinition
    #: Assets with a job of their own (the live quality, on new labels).
    standalone: list[AssetsDefinition] = field(default_factory=list)

    @property
    def batch_assets(self) -> list[AssetsDefinition]:
        """The per-batch (partitioned) assets and the standalone ones, which whole-graph jobs must
        leave out."""
        return [*(a for a in self.assets if a.partitions_def is not None), *self.standalone]


class SamplingConfig(Config):
    strategy: str = ""  # empty: the use case's default
    budget: int = -1  # negative: the use case's default
    audit_share: float = -1.0  # negative: the setting (FLYWHEEL_AUDIT_SHARE)


def _uncertainty(proba: "Any", strategy: str, multilabel: bool, aggregate: str, key: str) -> "Any":
    """Each record's score under ``strategy`` (higher: asked first)."""
    from assets.loop.uncertainty import multiclass_scores, multilabel_scores, random_scores

    if strategy == "random":
        return random_scores(len(proba), key)
    if multilabel:
        return multilabel_scores(proba, strategy, aggregate)  # type: ignore[arg-type]
    return multiclass_scores(proba, strategy)  # type: ignore[arg-type]


def _picks(scores: "Any", budget: int, audit_share: float, key: str) -> tuple["Any", "Any"]:
    """The strategy's picks and the audit picks (uniform over the rest) of one batch."""
    from assets.loop.uncertainty import audit_count, audit_indices, select

    audited = audit_count(budget, audit_share)
    chosen = select(scores, budget - audited)
    return chosen, audit_indices(len(scores), chosen, audited, key)


def predictions_table(use_case: str, columns: list[str] | None = None) -> "pd.DataFrame":
    """Every scored record so far (see ``assets.loop.scoring.predictions_table``)."""
    from assets.loop.scoring import predictions_table as read

    return read(use_case, columns)


def _batch_metadata(batch: Any, version: str, path: str, published: int, written_at: float) -> dict:
    """What a scoring run's materialization carries: counts, model version, produce→prediction latency."""
    predictions, dead = batch.predictions, batch.deadletter
    latency = (written_at - predictions["produced_at"]) if len(predictions) else None
    ranges = dead[dead["reason"].isin(["expired", "gap"])]
    spans = (ranges["last_offset"] - ranges["offset"] + 1).groupby(ranges["reason"]).sum()
    return {
        "rows_in": batch.rows_in,  # records read = scored + dead-lettered
        "rows_scored": len(predictions),
        "rows_deadlettered": len(dead) - len(ranges),
        "offsets_expired": int(spans.get("expired", 0)),
        "offsets_gap": int(spans.get("gap", 0)),
        "deadletter_reasons": MetadataValue.json(batch.deadletter["reason"].value_counts().to_dict()),
        "model_version": version,
        "score_seconds": round(batch.score_seconds, 3),
        "published": published,
        # From the producer's send (Kafka timestamp) to the prediction being written and published.
        "latency_p50_s": round(float(latency.quantile(0.5)), 3) if latency is not None else 0.0,
        "latency_p95_s": round(float(latency.quantile(0.95)), 3) if latency is not None else 0.0,
        "predictions_path": MetadataValue.path(path),
    }


def _batch_predictor(loop: LoopSpec, model: Any) -> Any:
    """How a batch's records are scored: from their history (``history_scorer``), with the earlier
    records of their series (``scoring_context``), or None (``model.predict`` record by record)."""
    from assets.lazy import resolve

    if loop.history_scorer is not None:
        scorer = resolve(loop.history_scorer)
        return lambda records: scorer(model, records)
    if loop.scoring_context is not None:
        context = resolve(loop.scoring_context)

        def with_context(records: Any) -> Any:
            scored, rows = context(records)
            return model.predict(scored).iloc[rows].reset_index(drop=True)

        return with_context
    return None


#: Predictions and dead-letter topics keep one value per record key (at-least-once delivery: a
#: re-run publishes the same keys again).
OUTPUT_TOPIC_CONFIG = {"cleanup.policy": "compact"}


def _read_batch(
    kafka: KafkaResource,
    topic: str,
    key: str,
    ranges: dict[int, tuple[int, int]],
    fetch_bytes: int | None = None,
) -> Any:
    """The batch's records, or — when its topic was deleted and created again since the key was
    handed out — none, with every offset of the key recorded as expired."""
    from resources.kafka import MissingRange, RangeRead

    tag = key_topic_tag(key)
    if tag is not None and topic_tag(kafka.topic_id(topic)) != tag:
        lost = [MissingRange(p, s, e, "expired") for p, (s, e) in sorted(ranges.items())]
        return RangeRead([], lost)
    if fetch_bytes is None:
        return kafka.read_range(topic, ranges)
    return kafka.read_range(topic, ranges, max_partition_fetch_bytes=fetch_bytes)


def _write_tables(batch: Any, use_case: str, slot: str) -> "Path":
    """Both table partitions of a batch; returns the predictions file."""
    from assets.loop.scoring import write_partition

    path = write_partition(batch.predictions, use_case, "predictions", slot)
    write_partition(batch.deadletter, use_case, "deadletter", slot)
    return path


def _alerts(predictions: "pd.DataFrame", alert_class: str | None) -> "pd.DataFrame":
    """The scored records predicted as ``alert_class`` (none when the use case has no alerts)."""
    if alert_class is None or not len(predictions):
        return predictions.iloc[:0]
    return predictions[predictions["prediction"].astype(str) == alert_class]


def _scored_batch_asset(
    spec: LifecycleSpec, loop: LoopSpec, batches: DynamicPartitionsDefinition
) -> AssetsDefinition:
    uc = spec.use_case

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
        import time

        from assets.loop.scoring import (
            DEADLETTER_COLUMNS,
            PUBLISHED_COLUMNS,
            batch_slot,
            keyed_json_lines,
            load_champion,
            score_messages,
        )

        settings = get_settings()
        key = context.partition_key
        ranges = parse_ranges_key(key)
        topic = settings.topic(uc, loop.topic_kind)
        read = _read_batch(kafka, topic, key, ranges, loop.max_message_bytes)
        expected = sum(e - s for s, e in ranges.values())
        if read.accounted() != expected:
            raise Failure(f"{topic} {key}: {read.accounted()} of {expected} offsets accounted for")
        messages = read.records
        registry = mlflow_registry.registry()
        pinned = context.run.tags.get(CHAMPION_VERSION_TAG)
        if pinned:  # resolved by the sensor at the tick
            version, uri = pinned, context.run.tags.get(CHAMPION_URI_TAG)
        else:  # a hand-launched or rescore run: the champion now
            location = registry.champion_location(uc)
            if location is None:
                raise Failure(
                    f"no {uc} champion to score with: materialize {uc} first (flywheel materialize {uc})"
                )
            version, uri = location
        model = load_champion(registry.tracking_uri, uc, version, uri)
        batch = score_messages(
            messages, loop.schema, model, version, topic, read.missing, predict=_batch_predictor(loop, model)
        )
        # The table partitions are written by a thread (pyarrow encodes without the GIL) while this
        # one encodes the messages; librdkafka's own threads send them. The step ends only once both
        # the files are in place and the broker acknowledged every message.
        slot = batch_slot(key)
        with ThreadPoolExecutor(max_workers=1) as writer:
            written = writer.submit(_write_tables, batch, uc, slot)
            publisher = kafka.publisher()
            for kind, frame, columns in (
                ("predictions", batch.predictions, PUBLISHED_COLUMNS),
                ("deadletter", batch.deadletter, DEADLETTER_COLUMNS),
            ):
                if len(frame):
                    out_topic = settings.topic(uc, kind)
                    kafka.ensure_topic(out_topic, config=OUTPUT_TOPIC_CONFIG)
                    publisher.produce(out_topic, *keyed_json_lines(frame, columns))
            alerts = _alerts(batch.predictions, loop.alert_class)
            if len(alerts):
                alerts_topic = settings.topic(uc, "alerts")
                kafka.ensure_topic(alerts_topic, config=OUTPUT_TOPIC_CONFIG)
                publisher.produce(alerts_topic, *keyed_json_lines(alerts, PUBLISHED_COLUMNS))
            path = written.result()
        published = publisher.flush()
        context.add_output_metadata(_batch_metadata(batch, version, str(path), published, time.time()))
        return {"path": str(path), "rows": len(batch.predictions), "model_version": version, "offsets": key}

    return scored_batch


def _suggestion(row: Any, labels: list[str], multilabel: bool) -> dict[str, Any]:
    """The champion's answer for one record, as the annotation page pre-selects it."""
    import json

    probabilities = {label: round(float(row[f"{PROBA_PREFIX}{label}"]), 4) for label in labels}
    prediction = row["prediction"]
    if multilabel:
        prediction = json.loads(prediction) if isinstance(prediction, str) else list(prediction)
    return {"prediction": prediction, "probabilities": probabilities}


def _annotation_candidates_asset(
    spec: LifecycleSpec, loop: LoopSpec, batches: DynamicPartitionsDefinition, scored: AssetsDefinition
) -> AssetsDefinition:
    uc = spec.use_case

    @asset(
        name=f"{uc}_annotation_candidates",
        group_name=uc,
        partitions_def=batches,
        ins={"batch": AssetIn(scored.key)},
        kinds={"sql"},
        description=(
            f"Records of the batch worth a label ({loop.strategy}, budget {loop.budget}, of which an audit "
            "share is drawn at random) → queue."
        ),
    )
    def annotation_candidates(
        context: AssetExecutionContext, config: SamplingConfig, annotations: AnnotationStoreResource,
        batch: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        import json

        import numpy as np
        import pandas as pd

        from assets.loop.scoring import read_predictions
        from assets.loop.uncertainty import AUDIT

        strategy = config.strategy or loop.strategy
        budget = config.budget if config.budget >= 0 else loop.budget
        audit_share = config.audit_share if config.audit_share >= 0 else get_settings().audit_share
        frame = read_predictions(batch["path"]) if batch["rows"] else pd.DataFrame()
        if frame.empty:
            context.add_output_metadata({"candidates": 0, "queued": 0})
            return {"queued": 0}
        proba_columns = [c for c in frame.columns if c.startswith(PROBA_PREFIX)]
        proba = frame[proba_columns].to_numpy(dtype=float)
        multilabel = spec.task == "multilabel"
        scores = _uncertainty(proba, strategy, multilabel, loop.aggregate, context.partition_key)
        chosen, audited = _picks(scores, budget, audit_share, context.partition_key)
        labels = [c.removeprefix(PROBA_PREFIX) for c in proba_columns]
        # The queue is ordered by score: audit picks rank with the batch's most uncertain pick, so that
        # annotators reach them with their batch and the audit stays a share of what gets labelled.
        top = float(scores[chosen].max()) if len(chosen) else 1.0
        picks = [(i, strategy, float(scores[i])) for i in chosen] + [(i, AUDIT, top) for i in audited]
        samples = [
            {
                "sample_id": frame["key"].iat[i],
                # What the model scored (the same preparation as scoring), not the raw message.
                "payload": prepare_record(json.loads(frame["record"].iat[i]), loop.schema),
                "score": score,
                "strategy": name,
                "model_version": frame["model_version"].iat[i],
                "suggestion": _suggestion(frame.iloc[i], labels, multilabel),
            }
            for i, name, score in picks
        ]
        queued = annotations.store().enqueue(uc, samples)
        context.add_output_metadata(
            {
                "strategy": strategy,
                "budget": budget,
                "audit_share": audit_share,
                "audit_candidates": len(audited),
                "candidates": len(samples),
                "queued": queued,
                "already_queued": len(samples) - queued,
                "score_min_chosen": float(scores[chosen].min()) if len(chosen) else 0.0,
                "score_median_batch": float(np.median(scores)),
            }
        )
        return {"queued": queued, "sample_ids": [s["sample_id"] for s in samples]}

    return annotation_candidates


def _annotated_row(item: dict[str, Any], source: LabelledTable, multilabel: bool) -> dict[str, Any]:
    given = item["label"] if isinstance(item["label"], list) else [item["label"]]
    row = {**item["payload"], source.id_column: str(item["sample_id"])}
    if multilabel:
        row.update({name: int(name in given) for name in source.labels})
    else:
        row[source.label_column] = given[0]
    return row


def _annotations_asset(spec: LifecycleSpec) -> AssetsDefinition:
    uc = spec.use_case

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
        import pandas as pd

        rows, skipped = [], {"no_record": 0, "unknown_label": 0}
        known = set(source.labels)
        store = annotations.store()
        for item in store.labelled_samples(uc):
            if item["payload"] is None:
                skipped["no_record"] += 1
                continue
            given = item["label"] if isinstance(item["label"], list) else [item["label"]]
            if not set(given) <= known:
                skipped["unknown_label"] += 1
                continue
            rows.append(_annotated_row(item, source, spec.task == "multilabel"))
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

    return annotations_asset


def records_topic_config(max_message_bytes: int | None) -> dict[str, str] | None:
    """Topic settings of a records topic whose messages may exceed Kafka's default size."""
    return None if max_message_bytes is None else {"max.message.bytes": str(max_message_bytes)}


def build_loop(spec: LifecycleSpec, loop: LoopSpec) -> LoopDefinitions:
    uc = spec.use_case
    batches = DynamicPartitionsDefinition(name=f"{uc}_batches")
    scored_batch = _scored_batch_asset(spec, loop, batches)
    annotation_candidates = _annotation_candidates_asset(spec, loop, batches, scored_batch)
    annotations_asset = _annotations_asset(spec)
    drift = drift_asset(spec, loop, batches, scored_batch)
    live_quality = live_quality_asset(spec, loop)

    # Two steps one after the other: one process is cheaper than a process per step.
    score_job = define_asset_job(
        f"{uc}_score",
        selection=[scored_batch, annotation_candidates, drift],
        partitions_def=batches,
        executor_def=in_process_executor,
        tags=score_tags(uc),
        description="Score one Kafka offset range, queue the records worth a label, measure its drift.",
    )
    monitor_job = define_asset_job(
        f"{uc}_monitor",
        selection=[live_quality],
        executor_def=in_process_executor,
        description="The champion's live quality on the audit labels given so far.",
    )
    retrain_job = define_asset_job(
        f"{uc}_retrain",
        selection=AssetSelection.assets(annotations_asset)
        | AssetSelection.assets(
            *(spec.key(s) for s in ("training_set", "challenger", "evaluation", "champion"))
        )
        | AssetSelection.assets(*loop.retrain_assets),
        # A chain (each step needs the one before), so no step ever runs beside another.
        executor_def=in_process_executor,
        tags=train_tags(uc),
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
            lag_asset_key=scored_batch.key,
            topic_config=records_topic_config(loop.max_message_bytes),
        ),
        build_retrain_sensor(
            uc,
            retrain_job.name,
            loop.retrain_min_labels,
            minimum_interval_seconds=15,
            count_outcomes=loop.outcome_counter,
            drift_asset_key=drift.key,
        ),  # fmt: skip
        build_live_quality_sensor(uc, monitor_job.name),
        build_rescore_sensor(uc, score_job.name, batches, scored_batch.key),
    ]
    nightly = ScheduleDefinition(
        name=f"{uc}_nightly_retrain",
        job=retrain_job,
        cron_schedule=loop.nightly_cron,
        description="Retrain every night, whatever the label count (picks up labels below the sensor's N).",
    )
    return LoopDefinitions(
        assets=[scored_batch, annotation_candidates, drift, annotations_asset, live_quality],
        jobs=[score_job, retrain_job, monitor_job],
        sensors=sensors,
        schedules=[nightly],
        partitions=batches,
        standalone=[live_quality],
    )

"""Dagster wiring of champion monitoring for one use case: is it still right, and is the stream
still what it learnt from?

- ``<uc>_live_quality``: each version's primary metric on the audit labels people gave for records
  it scored (``assets.monitoring.live_quality``), per day and per 100 labels with bootstrap
  intervals. Metadata (the UI plots it over materializations), MLflow metrics on the version's run,
  and ``monitoring/<uc>/live_quality.json`` for the monitor page. Its check warns when the live
  interval lies wholly below the holdout metric.
- ``<uc>_drift`` (per scored batch, in ``<uc>_score`` after the scoring step): the batch's inputs
  against the training set the scoring version was trained on, and its answers against the
  version's answers on validation rows (``assets.monitoring.drift``). Metadata per feature, an HTML
  report per batch; the figure goes to MLflow when a batch drifts. The retrain sensor requests
  ``<uc>_retrain`` once per run of ``FLYWHEEL_DRIFT_BATCHES`` drifted batches in a row.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    DynamicPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.lifecycle.shared import PRIMARY_VALUE_TAG, TRAINING_SET_TAG, VALIDATION_OUTPUTS_TAG, _md_table
from assets.lifecycle.spec import LabelledTable, LifecycleSpec
from assets.monitoring.files import monitoring_dir, write_json
from orchestration.settings import get_settings
from resources.annotation_resource import AnnotationStoreResource
from resources.mlflow_registry import MlflowResource

if TYPE_CHECKING:
    import pandas as pd

    from assets.loop.factory import LoopSpec


# -- live quality -------------------------------------------------------------------------------


def _holdout_metrics(versions: list[Any]) -> dict[str, float | None]:
    """version -> primary holdout metric its evaluation tagged (None when never evaluated)."""
    found: dict[str, float | None] = {}
    for v in versions:
        raw = (v.tags or {}).get(PRIMARY_VALUE_TAG)
        found[str(v.version)] = float(raw) if raw not in (None, "", "nan") else None
    return found


def _log_live_to_mlflow(
    registry: Any, versions: list[Any], quality: list[dict[str, Any]], primary: str
) -> int:
    """Each measured version's live metric on its own MLflow run (step: audit labels so far)."""
    runs = {str(v.version): v.run_id for v in versions if v.run_id}
    logged = 0
    for entry in quality:
        run_id = runs.get(entry["version"])
        if run_id is None or entry["metric"] is None:
            continue
        from mlflow.entities import Metric

        step, now = int(entry["labels"]), int(time.time() * 1000)
        values = {
            f"live_{primary}": entry["metric"],
            f"live_{primary}_ci_low": entry["ci_low"],
            f"live_{primary}_ci_high": entry["ci_high"],
            "live_audit_labels": step,
        }
        metrics = [Metric(key, float(value), now, step) for key, value in values.items()]
        registry.client.log_batch(run_id, metrics=metrics)
        logged += 1
    return logged


def _quality_check(uc: str, champion: dict[str, Any] | None) -> AssetCheckResult:
    """Warn when the champion's live interval lies wholly below its holdout metric."""
    if champion is None or champion["metric"] is None or champion["holdout_metric"] is None:
        return AssetCheckResult(
            check_name="live_quality_within_holdout", passed=True, metadata={"audit_labels": 0}
        )
    return AssetCheckResult(
        check_name="live_quality_within_holdout",
        passed=not champion["below_holdout"],
        severity=AssetCheckSeverity.WARN,
        metadata={
            "version": champion["version"],
            "live_metric": champion["metric"],
            "live_ci_high": champion["ci_high"],
            "holdout_metric": champion["holdout_metric"],
            "audit_labels": champion["labels"],
        },
        description=f"{uc} champion's live metric against its holdout metric (audit labels only).",
    )


def _number(value: Any) -> float:
    """A metric for Dagster metadata (NaN where there is none yet, so the UI's plot has a gap)."""
    return float("nan") if value is None else float(value)


def _quality_metadata(quality: list[dict[str, Any]], champion: dict[str, Any] | None, primary: str) -> dict:
    import pandas as pd

    columns = {
        "version": "version",
        "labels": "audit labels",
        "metric": f"live {primary}",
        "ci_low": "95 % low",
        "ci_high": "95 % high",
        "holdout_metric": "holdout",
        "all_labels": "all labels",
        "all_labels_metric": "all-label metric (biased)",
    }
    table = pd.DataFrame(
        [{name: q[key] for key, name in columns.items()} for q in quality], columns=[*columns.values()]
    )
    current = champion or {}
    return {
        "champion_version": current.get("version") or "none",
        "live_metric": _number(current.get("metric")),
        "live_ci_low": _number(current.get("ci_low")),
        "live_ci_high": _number(current.get("ci_high")),
        "holdout_metric": _number(current.get("holdout_metric")),
        "audit_labels": int(current.get("labels") or 0),
        "versions": _md_table(table),
    }


def live_quality_asset(spec: LifecycleSpec, loop: "LoopSpec") -> AssetsDefinition:
    uc = spec.use_case

    @asset(
        name=f"{uc}_live_quality",
        group_name=uc,
        ins={"source": AssetIn(spec.source)},
        kinds={"sql", "mlflow"},
        check_specs=[AssetCheckSpec("live_quality_within_holdout", asset=f"{uc}_live_quality")],
        description=f"Each {uc} version's {spec.primary_metric} on audit labels of records it scored.",
    )
    def live_quality(
        context: AssetExecutionContext,
        annotations: AnnotationStoreResource,
        mlflow_registry: MlflowResource,
        source: LabelledTable,
    ) -> MaterializeResult:
        from datetime import UTC, datetime

        from assets.lazy import resolve
        from assets.monitoring.live_quality import MetricSpace, live_quality

        registry = mlflow_registry.registry()
        versions = registry.versions(uc)
        space = MetricSpace(
            task=spec.task,
            labels=tuple(source.labels),
            primary=spec.primary_metric,
            extra_metrics=resolve(spec.extra_metrics) if spec.extra_metrics else None,
            label_column=source.label_column or "label",
        )
        rows = annotations.store().scored_labels(uc)
        if loop.live_outcomes is not None:
            rows += resolve(loop.live_outcomes)()
        quality = live_quality(rows, space, _holdout_metrics(versions))
        champion_version = registry.aliases_of(uc).get("champion")
        champion = next((q for q in quality if q["version"] == champion_version), None)
        body = {
            "use_case": uc,
            "metric": spec.primary_metric,
            "updated_at": datetime.now(UTC).isoformat(),
            "audit_share": get_settings().audit_share,
            "basis": "audit and resolved outcomes" if loop.live_outcomes is not None else "audit",
            "champion_version": champion_version,
            "versions": quality,
        }
        write_json(monitoring_dir(uc) / "live_quality.json", body)
        logged = _log_live_to_mlflow(registry, versions, quality, spec.primary_metric)
        metadata = {
            **_quality_metadata(quality, champion, spec.primary_metric),
            "mlflow_versions_logged": logged,
        }
        return MaterializeResult(metadata=metadata, check_results=[_quality_check(uc, champion)])

    return live_quality


# -- drift ----------------------------------------------------------------------------------------


def _reference_path(uc: str, version: str) -> Path:
    return monitoring_dir(uc, "reference") / f"v{version}.json"


def build_reference(
    uc: str, version: str, loop: "LoopSpec", registry: "Callable[[], Any]", multilabel: bool
) -> dict[str, Any]:
    """The drift reference of one version, built once from what its registration recorded (the
    training set and its validation answers) and kept as JSON beside the monitoring files."""
    import pandas as pd

    from assets.monitoring.drift import build_profile
    from assets.monitoring.inputs import output_features

    path = _reference_path(uc, version)
    if path.exists():
        return json.loads(path.read_text())
    tags = registry().client.get_model_version(uc, version).tags or {}
    reference: dict[str, Any] = {"version": version, "inputs": None, "outputs": None, "state": {}}
    training_set = tags.get(TRAINING_SET_TAG)
    if loop.drift_inputs is not None and training_set and Path(training_set).exists():
        state, features = loop.drift_inputs.reference(pd.read_parquet(training_set))
        reference["state"], reference["inputs"] = state, build_profile(features)
    outputs = tags.get(VALIDATION_OUTPUTS_TAG)
    folder = get_settings().data_dir("lifecycle", uc) / "validation_outputs"
    if outputs and (folder / outputs).exists():
        answers = pd.read_parquet(folder / outputs)
        numeric, top = output_features(answers.to_numpy(dtype=float), list(answers.columns), multilabel)
        reference["outputs"] = build_profile(numeric, {"top_class": top})
    write_json(path, reference)
    return reference


def _drift_table(
    reference: dict[str, Any], frame: "pd.DataFrame", loop: "LoopSpec", multilabel: bool
) -> "pd.DataFrame":
    """One row per feature: the batch's inputs and answers against the version's reference."""
    import pandas as pd

    from assets.loop.records import PROBA_PREFIX
    from assets.monitoring.drift import compare
    from assets.monitoring.inputs import output_features, records_frame

    parts = []
    if reference["inputs"] is not None and loop.drift_inputs is not None:
        records = records_frame(list(frame["record"]))
        parts.append(compare(reference["inputs"], loop.drift_inputs.features(reference["state"], records)))
    if reference["outputs"] is not None:
        columns = [c for c in frame.columns if c.startswith(PROBA_PREFIX)]
        labels = [c.removeprefix(PROBA_PREFIX) for c in columns]
        numeric, top = output_features(frame[columns].to_numpy(dtype=float), labels, multilabel)
        table = compare(reference["outputs"], numeric, {"top_class": top})
        table["feature"] = "model." + table["feature"]
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _drift_metadata(table: "pd.DataFrame", verdict: dict[str, Any], report: Path) -> dict[str, Any]:
    from dagster import TableColumn, TableRecord, TableSchema

    columns = ["feature", "kind", "psi", "p_value", "reference_mean", "current_mean", "drifted"]
    kinds = {"feature": "string", "kind": "string", "drifted": "bool"}

    def cell(name: str, value: Any) -> Any:
        if kinds.get(name) == "bool":
            return bool(value)
        return value if kinds.get(name) == "string" else round(float(value), 4)

    records = [TableRecord({c: cell(c, r[c]) for c in columns}) for r in table.to_dict(orient="records")]
    schema = TableSchema([TableColumn(c, kinds.get(c, "float")) for c in columns])
    return {
        "drifted": verdict["drifted"],
        "drifted_features": MetadataValue.json(verdict["drifted_features"]),
        "max_psi": round(float(verdict["max_psi"]), 4),
        "features": MetadataValue.table(records, schema=schema),
        "report": MetadataValue.path(str(report)),
    }


def _log_drift_figure(
    registry: Any, uc: str, version: str, table: "pd.DataFrame", html: Path, slot: str
) -> None:
    """A drifted batch's figure and report on the version's MLflow run."""
    from assets.monitoring.drift import drift_figure

    run_id = registry.client.get_model_version(uc, version).run_id
    png = drift_figure(table, html.with_suffix(".png"))
    for path in (png, html):
        registry.client.log_artifact(run_id, str(path), artifact_path=f"drift/{slot}")


def drift_asset(
    spec: LifecycleSpec, loop: "LoopSpec", batches: DynamicPartitionsDefinition, scored: AssetsDefinition
) -> AssetsDefinition:
    uc = spec.use_case
    multilabel = spec.task == "multilabel"

    @asset(
        name=f"{uc}_drift",
        group_name=uc,
        partitions_def=batches,
        ins={"batch": AssetIn(scored.key)},
        kinds={"scipy", "mlflow"},
        description=f"A scored {uc} batch against its version's training set and validation answers.",
    )
    def drift(context: AssetExecutionContext, mlflow_registry: MlflowResource, batch: dict[str, Any]) -> dict:
        from assets.loop.scoring import batch_slot, read_predictions
        from assets.monitoring.drift import render_report, summary

        if not batch["rows"]:
            context.add_output_metadata({"drifted": False, "rows": 0})
            return {"drifted": False, "rows": 0}
        version, slot = str(batch["model_version"]), batch_slot(context.partition_key)
        # The registry (an MLflow client: a second of store checks) only when the version's reference
        # is not built yet or a drifted batch's figure goes to its run.
        reference = build_reference(uc, version, loop, mlflow_registry.registry, multilabel)
        frame = read_predictions(batch["path"])
        table = _drift_table(reference, frame, loop, multilabel)
        verdict = summary(table) if len(table) else {"drifted": False, "drifted_features": [], "max_psi": 0.0}
        facts = {"use case": uc, "batch": context.partition_key, "model version": version, "rows": len(frame)}
        folder = monitoring_dir(uc, "drift")
        report = folder / f"{slot}.html"
        report.write_text(render_report(table, f"{uc} drift, batch {context.partition_key}", facts))
        write_json(
            folder / f"{slot}.json",
            {
                "partition": context.partition_key, "slot": slot, "scored_at": time.time(),
                "model_version": version, "rows": len(frame), **verdict,
                "features": json.loads(table.to_json(orient="records")) if len(table) else [],
            },
        )  # fmt: skip
        if verdict["drifted"]:
            _log_drift_figure(mlflow_registry.registry(), uc, version, table, report, slot)
        context.add_output_metadata({**_drift_metadata(table, verdict, report), "rows": len(frame)})
        return {"drifted": bool(verdict["drifted"]), "rows": len(frame)}

    return drift

"""``<uc>_evaluation`` and its blocking check ``<uc>_promotion_gate``: the challenger and the current
champion scored on the same frozen holdout, and the gate rule (``assets.lifecycle.gate``) on the result.

The champion is compared only when it can be compared fairly: a champion that may have trained on
part of this holdout (``assets.lifecycle.promotion.champion_comparable``) leaves the thresholds alone
to decide, and the evaluation says so.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    DagsterInstance,
    Failure,
    MetadataValue,
    asset,
    asset_check,
)

from assets.lazy import resolve
from assets.lifecycle.gate import GateDecision, decide
from assets.lifecycle.promotion import champion_comparable
from assets.lifecycle.shared import (
    HOLDOUT_VERSION_TAG,
    PRIMARY_VALUE_TAG,
    _evaluate,
    _extra_figures,
    _holdout_version,
    _md_table,
    _png_markdown,
    _predict,
    _run_dir,
    evaluation_path,
)
from assets.lifecycle.spec import HoldoutTable, LabelledTable, LifecycleSpec
from orchestration.files import atomic_write_text
from resources.mlflow_registry import CHAMPION, MlflowRegistry, MlflowResource

if TYPE_CHECKING:  # pandas, MLflow and scikit-learn (evaluation) are imported inside the step
    import pandas as pd

    from assets.lifecycle.evaluation import Evaluation


def failed_data_checks(instance: DagsterInstance, spec: LifecycleSpec) -> list[str]:
    """Upstream data checks whose latest evaluation did not pass (or that never ran)."""
    failed = []
    for key in spec.data_checks:
        record = instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.evaluation if record is not None else None
        if evaluation is None or not evaluation.passed:
            failed.append(key.name)
    return failed


def gate_decision(instance: DagsterInstance, spec: LifecycleSpec, result: dict[str, Any]) -> GateDecision:
    """The gate on an evaluation result; a champion that cannot be compared fairly (it may have
    trained on part of the holdout) leaves the thresholds alone to decide, and the decision says so."""
    comparable = result.get("champion_comparable", True)
    return decide(
        challenger=result["challenger_metrics"],
        champion=result.get("champion_metrics") if comparable else None,
        champion_note=None if comparable else result.get("comparison_note"),
        primary_metric=spec.primary_metric,
        thresholds=spec.thresholds,
        tolerance=spec.tolerance,
        failed_data_checks=failed_data_checks(instance, spec),
        higher_is_better=spec.higher_is_better,
        intervals=result.get("challenger_intervals") if spec.confidence else None,
        positives=result.get("holdout_positives") if spec.confidence else None,
        min_positives=spec.confidence.min_positives if spec.confidence else 0,
        level=spec.confidence.level if spec.confidence else 0.90,
        guarded=spec.guarded_metrics,
    )


def holdout_intervals(
    spec: LifecycleSpec, holdout: LabelledTable, frame: "pd.DataFrame", predictions: "pd.DataFrame"
) -> "tuple[int, dict[str, tuple[float, float]]]":
    """(positives in the holdout, bootstrap intervals of the thresholded metrics over its groups).
    No resampling when there are too few positives: the gate will not judge them anyway."""
    from assets.lifecycle.confidence import count_positives, group_bootstrap

    positives = count_positives(frame, holdout.labels, spec.task, holdout.label_column)
    if spec.confidence is None or positives < spec.confidence.min_positives or not spec.thresholds:
        return positives, {}
    rows = frame.reset_index(drop=True)
    scored = predictions.reset_index(drop=True)

    def metrics_of(positions: Any) -> dict[str, float]:
        sample = rows.iloc[positions].reset_index(drop=True)
        return _evaluate(spec, holdout, sample, scored.iloc[positions].reset_index(drop=True)).metrics

    groups = spec.group_keys(rows, holdout.id_column)
    return positives, group_bootstrap(groups, metrics_of, list(spec.thresholds), spec.confidence)


@dataclass
class _Scores:
    """The challenger and the current champion, scored on one holdout."""

    frame: "pd.DataFrame"  # the holdout's rows
    challenger_version: str
    challenger: "Evaluation"
    predictions: "pd.DataFrame"  # the challenger's, on ``frame``
    positives: int
    intervals: dict[str, tuple[float, float]]
    champion_version: str | None
    champion: "Evaluation | None"
    note: str | None  # why the champion cannot be compared fairly; None when it can


def _check_trained_without(use_case: str, challenger: dict[str, Any], holdout_version: int | None) -> None:
    """A challenger trained without an older holdout may have trained on the current one's rows."""
    ch_version = challenger["version"]
    trained_against = challenger.get("holdout_version")
    if trained_against is not None and holdout_version is not None and trained_against != holdout_version:
        raise Failure(
            f"{use_case} v{ch_version} was trained without holdout v{trained_against}, but the holdout is "
            f"now v{holdout_version}, whose rows it may have trained on: retrain it"
        )


def _score_version(
    spec: LifecycleSpec,
    version: str,
    holdout: LabelledTable,
    frame: "pd.DataFrame",
    frozen_inputs: "pd.DataFrame | None",
) -> "tuple[Evaluation, pd.DataFrame]":
    """A registered version's evaluation (with the use case's transfer metrics) and predictions."""
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{spec.use_case}/{version}")
    predictions = _predict(spec, model.predict, frame, frozen_inputs)
    result = _evaluate(spec, holdout, frame, predictions)
    if spec.transfer_metrics is not None:
        transfer = resolve(spec.transfer_metrics)(model.predict)
        result.metrics.update({k: float(v) for k, v in transfer.items()})
    return result, predictions


def _score_both(
    spec: LifecycleSpec,
    registry: MlflowRegistry,
    ch_version: str,
    holdout: LabelledTable,
    holdout_version: int | None,
) -> _Scores:
    """Score the challenger (with intervals) and the current champion, if any, on the holdout."""
    import mlflow

    frame = holdout.read()
    frozen_inputs = holdout.inputs() if isinstance(holdout, HoldoutTable) else None
    mlflow.set_tracking_uri(registry.tracking_uri)
    ch_eval, ch_pred = _score_version(spec, ch_version, holdout, frame, frozen_inputs)
    positives, intervals = holdout_intervals(spec, holdout, frame, ch_pred)
    current = registry.get_alias(spec.use_case, CHAMPION)
    champ_version = str(current.version) if current is not None else None
    champ_eval = None
    note = None
    if champ_version is not None:
        champ_eval = (
            ch_eval
            if champ_version == ch_version
            else _score_version(spec, champ_version, holdout, frame, frozen_inputs)[0]
        )
        if holdout_version is not None:
            excluded = (current.tags or {}).get(HOLDOUT_VERSION_TAG)
            note = champion_comparable(
                holdout_version, getattr(holdout, "fresh", True), int(excluded) if excluded else None
            )
    return _Scores(frame, ch_version, ch_eval, ch_pred, positives, intervals, champ_version, champ_eval, note)


def _side_by_side(scores: _Scores) -> "pd.DataFrame":
    import pandas as pd

    ch_eval, champ_eval, champ_version = scores.challenger, scores.champion, scores.champion_version
    return pd.DataFrame(
        {
            "metric": list(ch_eval.metrics),
            f"challenger v{scores.challenger_version}": list(ch_eval.metrics.values()),
            f"champion v{champ_version}" if champ_version else "champion (none)": [
                champ_eval.metrics.get(m) if champ_eval else None for m in ch_eval.metrics
            ],
        }
    )


def _log_evaluation(
    spec: LifecycleSpec,
    registry: MlflowRegistry,
    run_id: str,
    holdout: LabelledTable,
    scores: _Scores,
    side_by_side: "pd.DataFrame",
) -> "tuple[list[Path], Path]":
    """One MLflow run with both sides' metrics and the figures (kept in this Dagster run's folder).
    Returns (the curve figures, the side-by-side plot)."""
    import mlflow

    from assets.lifecycle.evaluation import comparison_png, curve_figures

    ch_version, ch_eval, champ_eval = scores.challenger_version, scores.challenger, scores.champion
    champ_version = scores.champion_version
    figures_dir = _run_dir(spec, run_id) / "evaluation"
    figures_dir.mkdir(exist_ok=True)
    run_tags = {"flywheel.stage": "evaluation"}
    with registry.start_run(spec.use_case, run_name=f"evaluation v{ch_version}", tags=run_tags):
        mlflow.log_params({"challenger_version": ch_version, "champion_version": champ_version or "none"})
        mlflow.log_metrics({f"challenger_{k}": v for k, v in ch_eval.metrics.items()})
        mlflow.log_metric("holdout_positives", scores.positives)
        for k, (low, high) in scores.intervals.items():
            mlflow.log_metrics({f"challenger_{k}_low": low, f"challenger_{k}_high": high})
        if champ_eval:
            mlflow.log_metrics({f"champion_{k}": v for k, v in champ_eval.metrics.items()})
        figures = curve_figures(holdout, scores.frame, scores.predictions, spec.task, figures_dir)
        _extra_figures(spec, holdout, scores.frame, scores.predictions, figures_dir)
        compared = comparison_png(
            {
                f"challenger v{ch_version}": ch_eval.metrics,
                f"champion v{champ_version}": champ_eval.metrics if champ_eval else None,
            },
            figures_dir / "side_by_side.png",
        )
        ch_eval.report.to_csv(figures_dir / "holdout_report.csv", index=False)
        side_by_side.to_csv(figures_dir / "side_by_side.csv", index=False)
        mlflow.log_artifacts(str(figures_dir), artifact_path="holdout")
    return figures, compared


def _tag_holdout_metrics(spec: LifecycleSpec, registry: MlflowRegistry, scores: _Scores) -> float:
    """Tag the challenger version with its holdout metrics; returns its primary metric's value."""
    client = registry.client
    uc, ch_version = spec.use_case, scores.challenger_version
    for k, v in scores.challenger.metrics.items():
        client.set_model_version_tag(uc, ch_version, f"holdout_{k}", f"{v:.6f}")
    primary_value = scores.challenger.metrics.get(spec.primary_metric, float("nan"))
    client.set_model_version_tag(uc, ch_version, PRIMARY_VALUE_TAG, f"{primary_value:.6f}")
    return primary_value


def _evaluation_result(
    run_id: str, holdout: LabelledTable, holdout_version: int | None, scores: _Scores, path: Path
) -> dict[str, Any]:
    """What the evaluation returns and keeps in ``path`` (what the gate and the champion step read)."""
    return {
        "challenger_version": scores.challenger_version,
        "champion_version": scores.champion_version,
        "challenger_metrics": scores.challenger.metrics,
        "champion_metrics": scores.champion.metrics if scores.champion else None,
        "champion_comparable": scores.note is None,
        "comparison_note": scores.note,
        "holdout_path": holdout.path,
        "holdout_version": holdout_version,
        "holdout_rows": len(scores.frame),
        "holdout_positives": scores.positives,
        "challenger_intervals": {k: list(v) for k, v in scores.intervals.items()},
        "evaluation_path": str(path),
        "dagster_run_id": run_id,
    }


def _evaluation_metadata(
    spec: LifecycleSpec,
    holdout_version: int | None,
    scores: _Scores,
    primary_value: float,
    side_by_side: "pd.DataFrame",
    plots: "tuple[list[Path], Path]",
    path: Path,
) -> dict[str, Any]:
    figures, compared = plots
    champ_version = scores.champion_version
    return {
        "challenger_version": int(scores.challenger_version),
        "champion_version": int(champ_version) if champ_version else None,
        "holdout_version": holdout_version,
        "holdout_positives": scores.positives,
        **{f"interval_{k}": f"{low:.4f} to {high:.4f}" for k, (low, high) in scores.intervals.items()},
        f"holdout_{spec.primary_metric}": float(primary_value),
        "champion_comparison": scores.note or "fair (the champion never trained on this holdout)",
        "side_by_side": _md_table(side_by_side),
        "holdout_report": _md_table(scores.challenger.report.head(40)),
        "side_by_side_plot": MetadataValue.md(_png_markdown(compared)),
        "pr_curves": MetadataValue.path(str(figures[0])),
        "roc_curves": MetadataValue.path(str(figures[1])),
        "evaluation_path": MetadataValue.path(str(path)),
    }


def _evaluate_challenger(
    context: AssetExecutionContext,
    spec: LifecycleSpec,
    mlflow_registry: MlflowResource,
    challenger: dict[str, Any],
    holdout: LabelledTable,
) -> dict[str, Any]:
    """The evaluation step: score both sides, log them, tag the challenger, keep the result."""
    registry = mlflow_registry.registry()
    holdout_version = _holdout_version(holdout)
    _check_trained_without(spec.use_case, challenger, holdout_version)
    scores = _score_both(spec, registry, challenger["version"], holdout, holdout_version)
    side_by_side = _side_by_side(scores)
    plots = _log_evaluation(spec, registry, context.run_id, holdout, scores, side_by_side)
    primary_value = _tag_holdout_metrics(spec, registry, scores)
    path = evaluation_path(spec.use_case, scores.challenger_version)
    result = _evaluation_result(context.run_id, holdout, holdout_version, scores, path)
    atomic_write_text(path, json.dumps(result, indent=1))
    context.add_output_metadata(
        _evaluation_metadata(spec, holdout_version, scores, primary_value, side_by_side, plots, path)
    )
    return result


def _evaluation_asset(
    spec: LifecycleSpec, challenger: AssetsDefinition, holdout: AssetsDefinition
) -> AssetsDefinition:
    @asset(
        name=f"{spec.use_case}_evaluation",
        group_name=spec.use_case,
        ins={"challenger": AssetIn(challenger.key), "holdout": AssetIn(holdout.key)},
        kinds={"mlflow"},
        description="Challenger and current champion scored on the same frozen holdout, side by side.",
    )
    def evaluation(
        context: AssetExecutionContext, mlflow_registry: MlflowResource, challenger: dict[str, Any],
        holdout: LabelledTable,
    ) -> dict[str, Any]:  # fmt: skip
        return _evaluate_challenger(context, spec, mlflow_registry, challenger, holdout)

    return evaluation


def _promotion_gate_check(spec: LifecycleSpec, evaluation: AssetsDefinition) -> AssetChecksDefinition:
    """The blocking check: within a run, the champion step is skipped when it fails."""

    @asset_check(
        asset=evaluation,
        name=f"{spec.use_case}_promotion_gate",
        blocking=True,
        description="Challenger meets thresholds, does not regress beyond tolerance, data checks passed.",
    )
    def promotion_gate(
        context: AssetCheckExecutionContext, evaluation_result: dict[str, Any]
    ) -> AssetCheckResult:
        decision = gate_decision(context.instance, spec, evaluation_result)
        return AssetCheckResult(
            passed=decision.passed,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "decision": decision.summary(),
                "challenger_version": evaluation_result["challenger_version"],
                "champion_version": evaluation_result.get("champion_version") or "none",
            },
        )

    return promotion_gate

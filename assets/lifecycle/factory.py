"""Dagster wiring of the model lifecycle: one call per use case makes its holdout, training set,
challenger, evaluation, promotion gate and champion.

The rules live in plain modules (``holdout``, ``gate``, ``evaluation``, ``metrics``); this module
only connects them to MLflow and Dagster. Two guards keep a worse model out:
- within a run, ``<uc>_promotion_gate`` is a *blocking* check on ``<uc>_evaluation``, so the
  champion step is skipped when it fails;
- across runs, ``<uc>_champion`` carries ``all_deps_blocking_checks_passed`` in its automation
  condition, and the asset itself re-applies the same gate rule before it moves the alias, so a
  hand-launched materialization cannot promote a challenger the gate refused.
"""

import base64
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    AutomationCondition,
    Config,
    DagsterInstance,
    Failure,
    MetadataValue,
    asset,
    asset_check,
)

from assets.lazy import resolve
from assets.lifecycle.gate import GateDecision, decide
from assets.lifecycle.spec import LabelledTable, LifecycleSpec
from orchestration.settings import get_settings
from resources.mlflow_registry import CHALLENGER, CHAMPION, MlflowResource

if TYPE_CHECKING:  # pandas, MLflow and scikit-learn (evaluation) are imported inside the steps
    import pandas as pd

    from assets.lifecycle.evaluation import Evaluation


class HoldoutConfig(Config):
    """Replacing the frozen holdout is an explicit act and needs a reason (it is logged)."""

    replace: bool = False
    reason: str = ""


class ChallengerConfig(Config):
    trainers: list[str] = []  # empty: every competing trainer of the use case
    seed: int = 0
    refit_on_all: bool = True  # refit the winner on train+validation before registering it


@dataclass
class LifecycleDefinitions:
    assets: list[AssetsDefinition]
    checks: list[Any]


def _lifecycle_dir(spec: LifecycleSpec) -> Path:
    return get_settings().data_dir("lifecycle", spec.use_case)


def _records(spec: LifecycleSpec, frame: "pd.DataFrame") -> "pd.DataFrame":
    """Only what arrives on the topic, as it arrives: models must never see labels or cleaning
    artefacts, and are scored on what they will be served."""
    if spec.to_records is not None:
        frame = resolve(spec.to_records)(frame)
    return frame[[c for c in spec.record_columns if c in frame.columns]]


def _md_table(df: "pd.DataFrame", floatfmt: str = ".4f") -> MetadataValue:
    return MetadataValue.md(df.to_markdown(index=False, floatfmt=floatfmt))


def _png_markdown(path: Path) -> str:
    """A PNG inlined in markdown, so the plot shows in the Dagster UI's metadata panel."""
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f"![{path.stem}](data:image/png;base64,{encoded})"


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
    return decide(
        challenger=result["challenger_metrics"],
        champion=result.get("champion_metrics"),
        primary_metric=spec.primary_metric,
        thresholds=spec.thresholds,
        tolerance=spec.tolerance,
        failed_data_checks=failed_data_checks(instance, spec),
        higher_is_better=spec.higher_is_better,
    )


def _better(spec: LifecycleSpec, a: float, b: float) -> bool:
    return a > b if spec.higher_is_better else a < b


def _with_annotations(
    train: "pd.DataFrame", annotations: LabelledTable, held_ids: set[str]
) -> "tuple[pd.DataFrame, int, int]":
    """``train`` plus annotated rows: an annotation replaces a row with the same id, and a record that
    is in the frozen holdout is never trained on, whatever label it was given."""
    import pandas as pd

    extra = annotations.read()
    if extra.empty:
        return train, 0, 0
    id_column = annotations.id_column
    extra = extra.assign(**{id_column: extra[id_column].astype(str)})
    in_holdout_ = extra[id_column].isin(held_ids)
    extra = extra[~in_holdout_]
    extra = extra[[c for c in train.columns if c in extra.columns]]
    for column in extra.columns:  # records arrive as JSON: give them the table's types back
        if column == id_column:
            continue
        if pd.api.types.is_datetime64_any_dtype(train[column]):
            extra[column] = pd.to_datetime(extra[column])
        elif pd.api.types.is_numeric_dtype(train[column]):
            extra[column] = pd.to_numeric(extra[column], errors="coerce")
        elif isinstance(train[column].dropna().iloc[0] if train[column].notna().any() else None, str):
            extra[column] = extra[column].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    base = train.assign(**{id_column: train[id_column].astype(str)})
    base = base[~base[id_column].isin(set(extra[id_column]))]
    merged = pd.concat([base, extra], ignore_index=True)
    return merged, len(extra), int(in_holdout_.sum())


def build_lifecycle(spec: LifecycleSpec) -> LifecycleDefinitions:  # noqa: C901 - one closure per asset
    uc = spec.use_case
    group = uc

    @asset(
        name=f"{uc}_holdout",
        group_name=group,
        ins={"source": AssetIn(spec.source)},
        kinds={"pandas", "parquet"},
        description="Frozen holdout: drawn once by id hash, versioned, never trained on.",
    )
    def holdout(
        context: AssetExecutionContext, config: HoldoutConfig, source: LabelledTable
    ) -> LabelledTable:
        from assets.lifecycle.holdout import HoldoutStore, in_holdout

        store = HoldoutStore(_lifecycle_dir(spec) / "holdout")
        current = store.current()
        replaced = False
        if current is None or config.replace:
            if config.replace and not config.reason.strip():
                raise Failure("replacing the frozen holdout needs a reason (config: reason)")
            frame = source.read()
            version = 1 if current is None else current.version + 1
            mask = in_holdout(frame[source.id_column], spec.holdout_fraction, salt=f"{uc}-holdout-v{version}")
            if spec.holdout_eligible is not None:
                mask &= spec.holdout_eligible(frame).to_numpy(dtype=bool)
            reason = config.reason.strip() or "first holdout"
            current = store.freeze(frame[mask].reset_index(drop=True), reason=reason)
            replaced = version > 1
            context.log.warning(f"{uc} holdout v{current.version} frozen ({current.rows} rows): {reason}")
        context.add_output_metadata(
            {
                "holdout_version": current.version,
                "rows": current.rows,
                "created_at": current.created_at,
                "reason": current.reason,
                "replaced_now": replaced,
                "history": MetadataValue.json(store.history()),
            }
        )
        return LabelledTable(str(current.path), source.labels, source.id_column, source.label_column)

    def build_training_set(
        context: AssetExecutionContext,
        source: LabelledTable,
        holdout: LabelledTable,
        annotations: LabelledTable | None = None,
    ) -> LabelledTable:
        import pandas as pd

        frame = source.read()
        held = set(pd.read_parquet(holdout.path, columns=[holdout.id_column])[holdout.id_column])
        keep = ~frame[source.id_column].isin(held)
        train = frame[keep].reset_index(drop=True)
        meta: dict[str, Any] = {"held_out_rows_excluded": int((~keep).sum())}
        if annotations is not None:
            train, meta["annotated_rows"], meta["annotated_rows_in_holdout"] = _with_annotations(
                train, annotations, {str(i) for i in held}
            )
        path = _lifecycle_dir(spec) / "training_set.parquet"
        train.to_parquet(path, index=False)
        # What the models will predict, for tools outside the graph (the annotation page).
        (path.parent / "labels.json").write_text(
            json.dumps({"labels": list(source.labels), "task": spec.task})
        )
        meta["rows"] = len(train)
        if spec.task == "multilabel":
            prevalence = train[list(source.labels)].mean().rename_axis("label").reset_index(name="prevalence")
            meta["label_prevalence"] = _md_table(prevalence)
        else:
            counts = train[source.label_column].value_counts().rename_axis("class").reset_index(name="rows")
            meta["class_counts"] = _md_table(counts)
        context.add_output_metadata(meta)
        return LabelledTable(str(path), source.labels, source.id_column, source.label_column)

    training_ins = {"source": AssetIn(spec.source), "holdout": AssetIn(holdout.key)}
    training_kwargs: dict[str, Any] = {
        "name": f"{uc}_training_set",
        "group_name": group,
        "kinds": {"pandas", "parquet"},
        "description": "Everything labelled except the frozen holdout"
        + (", plus the annotators' labels." if spec.annotations else "."),
    }
    if spec.annotations:

        @asset(ins={**training_ins, "annotations": AssetIn(spec.key("annotations"))}, **training_kwargs)
        def training_set(
            context: AssetExecutionContext,
            source: LabelledTable,
            holdout: LabelledTable,
            annotations: LabelledTable,
        ) -> LabelledTable:
            return build_training_set(context, source, holdout, annotations)

    else:

        @asset(ins=training_ins, **training_kwargs)
        def training_set(
            context: AssetExecutionContext, source: LabelledTable, holdout: LabelledTable
        ) -> LabelledTable:
            return build_training_set(context, source, holdout)

    @asset(
        name=f"{uc}_challenger",
        group_name=group,
        ins={"training_set": AssetIn(training_set.key)},
        kinds={"mlflow", "scikitlearn"},
        description="Trains every trainer, keeps the best on validation, registers it as 'challenger'.",
    )
    def challenger(
        context: AssetExecutionContext, config: ChallengerConfig, mlflow_registry: MlflowResource,
        training_set: LabelledTable,
    ) -> dict[str, Any]:  # fmt: skip
        import mlflow
        import pandas as pd

        from assets.lifecycle.evaluation import curve_figures, evaluate
        from assets.lifecycle.holdout import in_holdout

        registry = mlflow_registry.registry()
        available = spec.available_trainers()
        names = config.trainers or list(spec.competing_trainers())
        unknown = [n for n in names if n not in available]
        if unknown:
            raise Failure(f"unknown trainer(s) {unknown}; available: {sorted(available)}")
        frame = training_set.read()
        labels = list(training_set.labels)
        is_valid = in_holdout(
            frame[training_set.id_column], spec.validation_fraction, f"{uc}-val-{config.seed}"
        )
        train, valid = frame[~is_valid], frame[is_valid]
        rows = []
        best_name, best_score, best_model = None, None, None
        with registry.start_run(uc, run_name="challenger", tags={"flywheel.stage": "challenger"}) as run:
            mlflow.log_params(
                {"training_rows": len(frame), "validation_rows": len(valid), "seed": config.seed}
            )
            for name in names:
                started = time.monotonic()
                model = available[name](train, labels, config.seed)
                fit_seconds = time.monotonic() - started
                predictions = model.predict(None, _records(spec, valid))
                result = evaluate(training_set, valid, predictions, spec.task)
                score = result.metrics[spec.primary_metric]
                rows.append({"trainer": name, "fit_seconds": round(fit_seconds, 1), **result.metrics})
                with mlflow.start_run(run_name=name, nested=True):
                    mlflow.log_param("trainer", name)
                    mlflow.log_metrics({f"val_{k}": v for k, v in result.metrics.items()})
                    mlflow.log_metric("fit_seconds", fit_seconds)
                if best_score is None or _better(spec, score, best_score):
                    best_name, best_score, best_model, best_eval = name, score, model, result
                    best_predictions = predictions
                context.log.info(
                    f"{name}: validation {spec.primary_metric}={score:.4f} in {fit_seconds:.0f}s"
                )
            assert best_name is not None and best_model is not None
            comparison = pd.DataFrame(rows)
            mlflow.log_param("trainer", best_name)
            mlflow.log_metrics({f"val_{k}": v for k, v in best_eval.metrics.items()})
            with tempfile.TemporaryDirectory() as tmp:
                comparison.to_csv(Path(tmp) / "trainer_comparison.csv", index=False)
                best_eval.report.to_csv(Path(tmp) / "validation_report.csv", index=False)
                mlflow.log_artifacts(tmp, artifact_path="validation")
                curves = curve_figures(training_set, valid, best_predictions, spec.task, Path(tmp) / "curves")
                for figure in curves:
                    mlflow.log_artifact(str(figure), artifact_path="validation")
            if config.refit_on_all and len(valid):
                best_model = available[best_name](frame, labels, config.seed)
            info = mlflow.pyfunc.log_model(
                python_model=best_model, name="model", pip_requirements=spec.requirements()
            )
            version = registry.register_version(
                uc,
                info.model_uri,
                run_id=run.info.run_id,
                tags={
                    "trainer": best_name,
                    f"validation_{spec.primary_metric}": f"{best_score:.6f}",
                    "training_rows": str(len(frame)),
                    "flywheel.primary_metric": spec.primary_metric,
                },
            )
            registry.set_alias(uc, CHALLENGER, version.version)
        context.add_output_metadata(
            {
                "version": int(version.version),
                "trainer": best_name,
                f"validation_{spec.primary_metric}": float(best_score),
                "trainer_comparison": _md_table(comparison),
                "mlflow_run_id": run.info.run_id,
            }
        )
        return {
            "version": str(version.version),
            "run_id": run.info.run_id,
            "trainer": best_name,
            "validation_metrics": best_eval.metrics,
        }

    @asset(
        name=f"{uc}_evaluation",
        group_name=group,
        ins={"challenger": AssetIn(challenger.key), "holdout": AssetIn(holdout.key)},
        kinds={"mlflow"},
        description="Challenger and current champion scored on the same frozen holdout, side by side.",
    )
    def evaluation(
        context: AssetExecutionContext, mlflow_registry: MlflowResource, challenger: dict[str, Any],
        holdout: LabelledTable,
    ) -> dict[str, Any]:  # fmt: skip
        import mlflow
        import pandas as pd

        from assets.lifecycle.evaluation import comparison_png, curve_figures, evaluate

        registry = mlflow_registry.registry()
        frame = holdout.read()
        records = _records(spec, frame)
        mlflow.set_tracking_uri(registry.tracking_uri)

        def score(version: str) -> "tuple[Evaluation, pd.DataFrame]":
            model = mlflow.pyfunc.load_model(f"models:/{uc}/{version}")
            predictions = model.predict(records)
            return evaluate(holdout, frame, predictions, spec.task), predictions

        ch_version = challenger["version"]
        ch_eval, ch_pred = score(ch_version)
        current = registry.get_alias(uc, CHAMPION)
        champ_version = str(current.version) if current is not None else None
        champ_eval = None
        if champ_version is not None:
            champ_eval = ch_eval if champ_version == ch_version else score(champ_version)[0]
        side_by_side = pd.DataFrame(
            {
                "metric": list(ch_eval.metrics),
                f"challenger v{ch_version}": list(ch_eval.metrics.values()),
                f"champion v{champ_version}" if champ_version else "champion (none)": [
                    champ_eval.metrics.get(m) if champ_eval else None for m in ch_eval.metrics
                ],
            }
        )
        figures_dir = _lifecycle_dir(spec) / "evaluation"
        with registry.start_run(
            uc, run_name=f"evaluation v{ch_version}", tags={"flywheel.stage": "evaluation"}
        ):
            mlflow.log_params({"challenger_version": ch_version, "champion_version": champ_version or "none"})
            mlflow.log_metrics({f"challenger_{k}": v for k, v in ch_eval.metrics.items()})
            if champ_eval:
                mlflow.log_metrics({f"champion_{k}": v for k, v in champ_eval.metrics.items()})
            figures = curve_figures(holdout, frame, ch_pred, spec.task, figures_dir)
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
        client = registry.client
        for k, v in ch_eval.metrics.items():
            client.set_model_version_tag(uc, ch_version, f"holdout_{k}", f"{v:.6f}")
        primary_value = ch_eval.metrics[spec.primary_metric]
        client.set_model_version_tag(uc, ch_version, "flywheel.primary_metric_value", f"{primary_value:.6f}")
        result = {
            "challenger_version": ch_version,
            "champion_version": champ_version,
            "challenger_metrics": ch_eval.metrics,
            "champion_metrics": champ_eval.metrics if champ_eval else None,
            "holdout_path": holdout.path,
            "holdout_rows": len(frame),
        }
        (_lifecycle_dir(spec) / "evaluation.json").write_text(json.dumps(result, indent=1))
        context.add_output_metadata(
            {
                "challenger_version": int(ch_version),
                "champion_version": int(champ_version) if champ_version else None,
                f"holdout_{spec.primary_metric}": float(ch_eval.metrics[spec.primary_metric]),
                "side_by_side": _md_table(side_by_side),
                "holdout_report": _md_table(ch_eval.report.head(40)),
                "side_by_side_plot": MetadataValue.md(_png_markdown(compared)),
                "pr_curves": MetadataValue.path(str(figures[0])),
                "roc_curves": MetadataValue.path(str(figures[1])),
            }
        )
        return result

    @asset_check(
        asset=evaluation,
        name=f"{uc}_promotion_gate",
        blocking=True,
        description="Challenger meets thresholds, does not regress beyond tolerance, data checks passed.",
    )
    def promotion_gate(context, evaluation_result: dict[str, Any]) -> AssetCheckResult:
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

    @asset(
        name=f"{uc}_champion",
        group_name=group,
        ins={"evaluation_result": AssetIn(evaluation.key)},
        kinds={"mlflow"},
        automation_condition=AutomationCondition.eager()
        & AutomationCondition.all_deps_blocking_checks_passed(),
        description="Moves alias 'champion' to the challenger once the promotion gate passed.",
    )
    def champion(
        context: AssetExecutionContext, mlflow_registry: MlflowResource, evaluation_result: dict[str, Any]
    ) -> dict[str, Any]:
        registry = mlflow_registry.registry()
        decision = gate_decision(context.instance, spec, evaluation_result)
        version = evaluation_result["challenger_version"]
        if not decision.passed:
            raise Failure(f"refusing to promote {uc} v{version}: {decision.summary()}")
        current = registry.get_alias(uc, CHAMPION)
        if current is not None and str(current.version) == version:
            entry = {"version": version, "previous": version, "reason": "already champion", "action": "none"}
        else:
            entry = registry.promote(uc, version, reason=decision.summary(), actor="flywheel-gate")
        context.add_output_metadata(
            {
                "champion_version": int(version),
                "previous_version": entry.get("previous") or "none",
                "reason": decision.summary(),
                f"holdout_{spec.primary_metric}": float(
                    evaluation_result["challenger_metrics"][spec.primary_metric]
                ),
            }
        )
        return entry

    return LifecycleDefinitions(
        assets=[holdout, training_set, challenger, evaluation, champion], checks=[promotion_gate]
    )

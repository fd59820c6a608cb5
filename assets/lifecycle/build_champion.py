"""``<uc>_champion``: moves the ``champion`` alias to the evaluated challenger.

Two guards besides the blocking ``<uc>_promotion_gate`` check: the asset re-applies the gate rule
before it moves the alias (a hand-launched materialization cannot promote a challenger the gate
refused), and promotion is compare-and-set: under the registry's lock, it promotes only if the
challenger alias, the champion alias and the holdout are still what the evaluation saw, and never a
version a rollback took off the alias.
"""

import json
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    AutomationCondition,
    Config,
    Failure,
    MetadataValue,
    asset,
)

from assets.lifecycle.build_evaluation import gate_decision
from assets.lifecycle.gate import GateDecision
from assets.lifecycle.promotion import promotion_conflicts
from assets.lifecycle.shared import _lifecycle_dir, evaluation_path
from assets.lifecycle.spec import LifecycleSpec
from resources.mlflow_registry import CHALLENGER, CHAMPION, MlflowRegistry, MlflowResource


class ChampionConfig(Config):
    """Which evaluation to promote: by default the one this run made (or the latest); a version
    number promotes that version's evaluation (``lifecycle/<uc>/evaluations/v<N>.json``), for
    re-running a promotion by hand. The same compare-and-set and gate apply either way."""

    challenger_version: str = ""


def _evaluation_to_promote(
    use_case: str, config: ChampionConfig, evaluation_result: dict[str, Any]
) -> dict[str, Any]:
    """This run's evaluation, or the kept one of ``config.challenger_version``."""
    if config.challenger_version:
        path = evaluation_path(use_case, config.challenger_version)
        if not path.exists():
            raise Failure(f"{use_case} v{config.challenger_version} was never evaluated (no {path})")
        evaluation_result = json.loads(path.read_text())
    return evaluation_result


def _promote(
    context: AssetExecutionContext,
    spec: LifecycleSpec,
    registry: MlflowRegistry,
    evaluation_result: dict[str, Any],
) -> "tuple[str, dict[str, Any], GateDecision]":
    """Compare-and-set under the use case's lock. Returns (the version, the registry's entry, the
    gate's decision); raises when the aliases or the holdout moved, or the gate refuses."""
    from assets.lifecycle.holdout import HoldoutStore

    uc = spec.use_case
    version = str(evaluation_result["challenger_version"])
    with registry.locked(uc):  # nothing moves an alias between the checks and the promotion
        current = registry.get_alias(uc, CHAMPION)
        champion_now = str(current.version) if current is not None else None
        decision = gate_decision(context.instance, spec, evaluation_result)
        if champion_now == version:
            entry = {"version": version, "previous": version, "reason": "already champion", "action": "none"}
            return version, entry, decision
        challenger_now = registry.get_alias(uc, CHALLENGER)
        holdout_now = HoldoutStore(_lifecycle_dir(spec) / "holdout").current()
        conflicts = promotion_conflicts(
            evaluation_result,
            challenger_now=str(challenger_now.version) if challenger_now is not None else None,
            champion_now=champion_now,
            holdout_now=holdout_now.version if holdout_now is not None else None,
            rolled_back=registry.rolled_back(uc, version),
        )
        if conflicts:
            raise Failure(
                description=f"refusing to promote {uc} v{version}: " + "; ".join(conflicts),
                metadata={"conflicts": MetadataValue.json(conflicts)},
            )
        if not decision.passed:
            raise Failure(f"refusing to promote {uc} v{version}: {decision.summary()}")
        entry = registry.promote(uc, version, reason=decision.summary(), actor="flywheel-gate")
    return version, entry, decision


def _champion_asset(spec: LifecycleSpec, evaluation: AssetsDefinition) -> AssetsDefinition:
    uc = spec.use_case

    @asset(
        name=f"{uc}_champion",
        group_name=uc,
        ins={"evaluation_result": AssetIn(evaluation.key)},
        kinds={"mlflow"},
        automation_condition=AutomationCondition.eager()
        & AutomationCondition.all_deps_blocking_checks_passed(),
        description="Moves alias 'champion' to the evaluated challenger once the promotion gate passed, "
        "if the aliases and the holdout are still what the evaluation saw (compare-and-set).",
    )
    def champion(
        context: AssetExecutionContext, config: ChampionConfig, mlflow_registry: MlflowResource,
        evaluation_result: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        evaluation_result = _evaluation_to_promote(uc, config, evaluation_result)
        version, entry, decision = _promote(context, spec, mlflow_registry.registry(), evaluation_result)
        context.add_output_metadata(
            {
                "champion_version": int(version),
                "previous_version": entry.get("previous") or "none",
                "reason": entry["reason"] if entry["action"] == "none" else decision.summary(),
                f"holdout_{spec.primary_metric}": float(
                    evaluation_result["challenger_metrics"].get(spec.primary_metric, float("nan"))
                ),
            }
        )
        return entry

    return champion

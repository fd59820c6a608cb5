"""Dagster wiring of the model lifecycle: one call per use case makes its holdout, training set,
challenger, evaluation, promotion gate and champion.

The rules live in plain modules (``holdout``, ``content``, ``gate``, ``promotion``, ``evaluation``,
``metrics``); the ``build_*`` modules connect them to MLflow and Dagster, one builder per asset, and
this module puts them together. Three guards keep a worse model out:
- within a run, ``<uc>_promotion_gate`` is a *blocking* check on ``<uc>_evaluation``, so the
  champion step is skipped when it fails;
- across runs, ``<uc>_champion`` carries ``all_deps_blocking_checks_passed`` in its automation
  condition, and the asset itself re-applies the same gate rule before it moves the alias, so a
  hand-launched materialization cannot promote a challenger the gate refused;
- promotion is compare-and-set: under the registry's lock, the champion step promotes only if the
  challenger alias, the champion alias and the holdout are still what the evaluation saw, and never a
  version a rollback took off the alias.

Nothing two runs share is written in place: a run's training set and figures live under
``lifecycle/<uc>/runs/<run_id>/``, evaluations under ``lifecycle/<uc>/evaluations/v<version>.json``,
the records each registered version trained on under ``lifecycle/<uc>/trained_on/``, and shared
files (``labels.json``, the holdout manifest) are replaced atomically.

Like every module the code location imports, none of these imports MLflow, scikit-learn or pandas
at import time: the steps do.
"""

from dataclasses import dataclass
from typing import Any

from dagster import AssetsDefinition

from assets.lifecycle.build_challenger import (
    ChallengerConfig,
    _better,
    _challenger_asset,
    validation_split,
)
from assets.lifecycle.build_champion import ChampionConfig, _champion_asset
from assets.lifecycle.build_evaluation import (
    _evaluation_asset,
    _promotion_gate_check,
    failed_data_checks,
    gate_decision,
    holdout_intervals,
)
from assets.lifecycle.build_holdout import HoldoutConfig, _holdout_asset, _trained_on
from assets.lifecycle.build_training import _before_holdout_start, _training_set_asset, _with_annotations
from assets.lifecycle.shared import (
    HOLDOUT_VERSION_TAG,
    TRAINED_ON_TAG,
    _content_keys,
    _evaluate,
    _extra_figures,
    _holdout_version,
    _lifecycle_dir,
    _md_table,
    _png_markdown,
    _predict,
    _records,
    _run_dir,
    _time_split,
    evaluation_path,
    latest_evaluation,
    materialized_path,
)
from assets.lifecycle.spec import LifecycleSpec

# Everything this module defined before it was split into the ``build_*`` modules, for its callers.
__all__ = [
    "HOLDOUT_VERSION_TAG",
    "TRAINED_ON_TAG",
    "ChallengerConfig",
    "ChampionConfig",
    "HoldoutConfig",
    "LifecycleDefinitions",
    "_before_holdout_start",
    "_better",
    "_content_keys",
    "_evaluate",
    "_extra_figures",
    "_holdout_version",
    "_lifecycle_dir",
    "_md_table",
    "_png_markdown",
    "_predict",
    "_records",
    "_run_dir",
    "_time_split",
    "_trained_on",
    "_with_annotations",
    "build_lifecycle",
    "evaluation_path",
    "failed_data_checks",
    "gate_decision",
    "holdout_intervals",
    "latest_evaluation",
    "materialized_path",
    "validation_split",
]


@dataclass
class LifecycleDefinitions:
    assets: list[AssetsDefinition]
    checks: list[Any]


def build_lifecycle(spec: LifecycleSpec) -> LifecycleDefinitions:
    """The use case's lifecycle assets, each wired to the one before it, and the promotion gate."""
    holdout = _holdout_asset(spec)
    training_set = _training_set_asset(spec, holdout)
    challenger = _challenger_asset(spec, training_set)
    evaluation = _evaluation_asset(spec, challenger, holdout)
    promotion_gate = _promotion_gate_check(spec, evaluation)
    champion = _champion_asset(spec, evaluation)
    return LifecycleDefinitions(
        assets=[holdout, training_set, challenger, evaluation, champion], checks=[promotion_gate]
    )

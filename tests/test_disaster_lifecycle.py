"""The model lifecycle on disaster triage, through a real Dagster instance, Spark, GX and MLflow.

A slice of the shared Figure Eight files lands in the test's own landing folder; jobs run through
``DagsterInstance.get()`` at the test's ``DAGSTER_HOME`` exactly as ``flywheel materialize`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions

from assets.disaster.model import TRAINERS
from assets.lifecycle.factory import materialized_path
from orchestration.cli import main as cli
from orchestration.settings import Settings
from resources.mlflow_registry import CHALLENGER, CHAMPION, MlflowRegistry

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "disaster_response"
FAST_TRAINER = next(iter(TRAINERS))


def land_slice(settings: Settings, every: int = 8, mutate=None, also: set[str] = frozenset()) -> None:
    """Copy every ``every``-th message id (plus the ids in ``also``, with their categories) into the
    landing, formats unchanged."""
    messages = pd.read_csv(SHARED / "disaster_messages.csv", dtype=str, keep_default_na=False)
    categories = pd.read_csv(SHARED / "disaster_categories.csv", dtype=str, keep_default_na=False)
    ids = set(messages["id"].iloc[::every]) | set(also)
    messages = messages[messages["id"].isin(ids)]
    if mutate is not None:
        messages = mutate(messages)
    folder = Path(settings.landing) / "disaster"
    folder.mkdir(parents=True, exist_ok=True)
    messages.to_csv(folder / "disaster_messages.csv", index=False)
    categories[categories["id"].isin(ids)].to_csv(folder / "disaster_categories.csv", index=False)


def run_pipeline(defs, instance: DagsterInstance, trainers: list[str]):
    config = {"ops": {"disaster_challenger": {"config": {"trainers": trainers}}}}
    return defs.resolve_job_def("disaster_train").execute_in_process(
        instance=instance, run_config=config, raise_on_error=False
    )


def condition_truth(tick, key: AssetKey) -> dict[str, int]:
    """How many partitions each labelled part of ``key``'s automation condition held true for."""
    found: dict[str, int] = {}

    def walk(result) -> None:
        label = result.condition.get_label() if hasattr(result.condition, "get_label") else None
        if label:
            found[label] = result.true_subset.size
        for child in result.child_results:
            walk(child)

    for result in tick.results:
        if result.key == key:
            walk(result)
    return found


def gate_results(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_lifecycle_promotes_first_refuses_worse_and_rolls_back(flywheel_env: Settings) -> None:
    from orchestration.definitions import build_definitions
    from orchestration.materialize import format_summary, materialize_use_case

    land_slice(flywheel_env)
    defs = build_definitions()
    instance = DagsterInstance.get()
    registry = MlflowRegistry(flywheel_env.mlflow_tracking_uri)

    # 1. First run, through the same path as `flywheel materialize disaster`: thresholds alone.
    summary = materialize_use_case("disaster", defs, instance)
    assert summary.failed_runs == [], summary
    assert summary.rows_in == summary.rows_kept + summary.rows_quarantined > 0
    assert summary.checks_failed == [] and summary.checks_passed == 5  # 4 GX checks + the gate
    assert summary.champion == "v1" and summary.metric.startswith("weighted_f2=")
    first_f2 = float(summary.metric.split("=")[1])
    assert first_f2 >= 0.5  # the threshold the gate applied, measured on the frozen holdout
    assert "v1" in format_summary([summary])
    # Nothing landed or changed since: a second materialize (a second `make demo`) runs nothing.
    again = materialize_use_case("disaster", defs, instance)
    assert again.up_to_date and again.runs == 0 and again.champion == "v1", again
    assert "up to date" in format_summary([again])
    history = registry.history("disaster")
    assert history[-1]["action"] == "promote" and "no champion yet" in history[-1]["reason"]
    holdout_v1 = pd.read_parquet(
        flywheel_env.home / "lifecycle" / "disaster" / "holdout" / "holdout-v1.parquet"
    )

    # 2. A deliberately worse challenger, within a run: the blocking gate skips the champion step.
    tick_before = evaluate_automation_conditions(defs=defs, instance=instance).cursor
    worse = run_pipeline(defs, instance, ["majority"])
    assert gate_results(worse)["disaster_promotion_gate"] is False
    assert str(registry.get_alias("disaster", CHALLENGER).version) == "2"
    assert str(registry.get_alias("disaster", CHAMPION).version) == "1"
    champion_events = [
        e for e in worse.get_asset_materialization_events() if e.asset_key == AssetKey("disaster_champion")
    ]
    assert champion_events == []
    gate = instance.get_latest_asset_check_evaluation_record(
        next(k for k in defs.resolve_asset_graph().asset_check_keys if k.name == "disaster_promotion_gate")
    )
    assert "regresses" in gate.evaluation.metadata["decision"].value

    # The holdout stayed frozen: the same rows judged both models.
    holdout_now = pd.read_parquet(
        flywheel_env.home / "lifecycle" / "disaster" / "holdout" / "holdout-v1.parquet"
    )
    assert holdout_now["id"].tolist() == holdout_v1["id"].tolist()
    training = pd.read_parquet(
        materialized_path(instance, AssetKey("disaster_training_set"), "training_set_path")
    )
    assert set(training["id"]).isdisjoint(set(holdout_v1["id"]))

    # 3. Across runs: the automation condition does not request the champion after a failed gate...
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick_before)
    assert tick.get_num_requested(AssetKey("disaster_champion")) == 0
    truth = condition_truth(tick, AssetKey("disaster_champion"))
    assert truth["eager"] == 1  # its dependency updated: eager alone would have requested it
    assert truth["all_deps_blocking_checks_passed"] == 0  # the failed gate is what holds it back
    # ...and a hand-launched champion materialization refuses too.
    forced = defs.resolve_job_def("disaster_train").execute_in_process(
        instance=instance, asset_selection=[AssetKey("disaster_champion")], raise_on_error=False
    )
    assert not forced.success
    assert str(registry.get_alias("disaster", CHAMPION).version) == "1"

    # 4. Human override and rollback through the CLI, audited in MLflow.
    runner = CliRunner()
    promoted = runner.invoke(cli, ["models", "promote", "disaster", "--version", "2", "--reason", "drill"])
    assert promoted.exit_code == 0, promoted.output
    assert str(registry.get_alias("disaster", CHAMPION).version) == "2"
    rolled = runner.invoke(cli, ["models", "rollback", "disaster", "--reason", "drill over"])
    assert rolled.exit_code == 0, rolled.output
    assert str(registry.get_alias("disaster", CHAMPION).version) == "1"
    assert [h["action"] for h in registry.history("disaster")] == ["promote", "manual-promote", "rollback"]
    assert (
        registry.client.get_model_version("disaster", "1").tags["flywheel.promotion_reason"] == "drill over"
    )
    listing = runner.invoke(cli, ["models", "list", "disaster"])
    assert "v1" in listing.output and "champion" in listing.output and "weighted_f2" in listing.output

    # 5. The champion serves raw topic records from a plain Python process.
    script = (
        "import json, mlflow, pandas as pd\n"
        "m = mlflow.pyfunc.load_model('models:/disaster@champion')\n"
        "df = pd.DataFrame([{'id': 1, 'message': 'We need water and food in Leogane', 'genre': 'direct'},\n"
        "                   {'id': 2, 'message': 'The earthquake destroyed our house', 'genre': 'social'}])\n"
        "out = m.predict(df)\n"
        "print(json.dumps({'columns': list(out.columns), 'rows': len(out),\n"
        "                  'prediction': [list(p) for p in out['prediction']]}))\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env["MLFLOW_TRACKING_URI"] = flywheel_env.mlflow_tracking_uri
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    clean_columns = pd.read_parquet(flywheel_env.home / "tables" / "disaster" / "clean").columns
    labels = set(clean_columns) - {"id", "message", "original", "genre"}
    assert len(labels) == 36
    assert served["rows"] == 2
    assert served["columns"][-1] == "prediction"
    assert set(served["columns"][:-1]) == labels
    assert "water" in served["prediction"][0] or "related" in served["prediction"][0]


def test_failed_data_check_blocks_everything_downstream(flywheel_env: Settings) -> None:
    from orchestration.definitions import build_definitions

    def bad_genre(messages: pd.DataFrame) -> pd.DataFrame:
        messages = messages.copy()
        messages.loc[messages.index[:3], "genre"] = "tabloid"
        return messages

    land_slice(flywheel_env, every=20, mutate=bad_genre)
    defs = build_definitions()
    instance = DagsterInstance.get()
    result = run_pipeline(defs, instance, [FAST_TRAINER])
    checks = gate_results(result)
    assert checks["disaster_genre_known"] is False
    assert checks["disaster_ids_unique"] is True
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == {"disaster_clean"}  # the blocking check stopped the rest of the run
    assert MlflowRegistry(flywheel_env.mlflow_tracking_uri).get_alias("disaster", CHAMPION) is None
    genre = instance.get_latest_asset_check_evaluation_record(
        next(k for k in defs.resolve_asset_graph().asset_check_keys if k.name == "disaster_genre_known")
    )
    assert "tabloid" in genre.evaluation.metadata["results"].value


def test_replacing_the_holdout_needs_a_reason(flywheel_env: Settings) -> None:
    from orchestration.definitions import build_definitions

    land_slice(flywheel_env, every=20)
    defs = build_definitions()
    instance = DagsterInstance.get()
    job = defs.resolve_job_def("disaster_train")
    keys = [AssetKey("disaster_clean"), AssetKey("disaster_holdout")]

    def run(config: dict | None):
        run_config = {"ops": {"disaster_holdout": {"config": config}}} if config else None
        return job.execute_in_process(
            instance=instance, asset_selection=keys, run_config=run_config, raise_on_error=False
        )

    assert run(None).success
    refused = run({"replace": True})
    assert not refused.success
    assert "needs a reason" in str(refused.all_events)
    replaced = run({"replace": True, "reason": "relabelled batch"})
    assert replaced.success
    meta = next(
        e.materialization.metadata
        for e in replaced.get_asset_materialization_events()
        if e.asset_key == AssetKey("disaster_holdout")
    )
    assert meta["holdout_version"].value == 2 and meta["reason"].value == "relabelled batch"

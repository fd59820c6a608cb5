"""MlflowRegistry on a real SQLite tracking store: versions, aliases, champion history, rollback."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from orchestration.cli import main as cli
from orchestration.settings import Settings
from resources.mlflow_registry import (
    CHALLENGER,
    CHAMPION,
    HISTORY_MAX_CHARS,
    HISTORY_TAG,
    PREVIOUS_CHAMPION,
    MlflowRegistry,
    MlflowResource,
    bounded_history,
)


def _log_model(registry: MlflowRegistry, use_case: str, flip: bool) -> tuple[str, str]:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([1, 1, 0, 0]) if flip else np.array([0, 0, 1, 1])
    with registry.start_run(use_case, run_name="unit") as run:
        model = LogisticRegression().fit(x, y)
        mlflow.log_metric("accuracy", float((model.predict(x) == y).mean()))
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    return info.model_uri, run.info.run_id


def test_versions_aliases_and_history(flywheel_env: Settings) -> None:
    registry = MlflowResource(tracking_uri=flywheel_env.mlflow_tracking_uri).registry()
    assert registry.get_alias("demo", CHAMPION) is None  # no model yet: None, not an exception

    uri1, run1 = _log_model(registry, "demo", flip=False)
    v1 = registry.register_version("demo", uri1, run_id=run1, tags={"trainer": "logreg"})
    uri2, run2 = _log_model(registry, "demo", flip=True)
    v2 = registry.register_version("demo", uri2, run_id=run2)
    assert (str(v1.version), str(v2.version)) == ("1", "2")
    assert v1.status == "READY"

    registry.set_alias("demo", CHALLENGER, v1.version)
    assert str(registry.get_alias("demo", CHALLENGER).version) == "1"

    registry.promote("demo", v1.version, reason="first model, thresholds met")
    assert str(registry.get_alias("demo", CHAMPION).version) == "1"
    assert registry.get_alias("demo", PREVIOUS_CHAMPION) is None

    registry.promote("demo", v2.version, reason="better F2")
    assert str(registry.get_alias("demo", CHAMPION).version) == "2"
    assert str(registry.get_alias("demo", PREVIOUS_CHAMPION).version) == "1"
    stamped = registry.client.get_model_version("demo", "2").tags
    assert stamped["flywheel.promotion_reason"] == "better F2"

    entry = registry.rollback("demo", reason="bad outputs in production")
    assert entry["action"] == "rollback" and entry["version"] == "1" and entry["previous"] == "2"
    assert str(registry.get_alias("demo", CHAMPION).version) == "1"
    assert [h["version"] for h in registry.history("demo")] == ["1", "2", "1"]
    assert registry.aliases_of("demo")[CHAMPION] == "1"

    # The champion loads through the registry URI from a plain pyfunc call.
    mlflow.set_tracking_uri(flywheel_env.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model("models:/demo@champion")
    preds = model.predict(pd.DataFrame({"x": [0.0, 3.0]}).to_numpy())
    assert list(preds) == [0, 1]


def test_artifacts_stay_under_flywheel_home(flywheel_env: Settings) -> None:
    registry = MlflowRegistry(flywheel_env.mlflow_tracking_uri)
    exp = registry.client.get_experiment(registry.experiment_id("demo"))
    assert exp.artifact_location.startswith((flywheel_env.home / "mlartifacts").as_uri())


def test_rollback_without_history_is_refused(flywheel_env: Settings) -> None:
    registry = MlflowRegistry(flywheel_env.mlflow_tracking_uri)
    uri, run = _log_model(registry, "solo", flip=False)
    v = registry.register_version("solo", uri, run_id=run)
    registry.promote("solo", v.version, reason="first")
    with pytest.raises(ValueError, match="no previous champion"):
        registry.rollback("solo", reason="nothing to go back to")


def test_history_tag_stays_under_the_tag_column_size(flywheel_env: Settings) -> None:
    """Postgres and MySQL store tag values in 5,000 characters; SQLite would not complain."""
    registry = MlflowRegistry(flywheel_env.mlflow_tracking_uri)
    uri, run = _log_model(registry, "long", flip=False)
    versions = [registry.register_version("long", uri, run_id=run).version for _ in range(2)]
    reasons = []
    for i in range(24):
        reasons.append(f"promotion {i}: " + "weighted_f2 improved, résumé of a long review " * 80)
        registry.promote("long", versions[i % 2], reason=reasons[-1], actor="someone-" + "x" * 300)
        raw = registry.client.get_registered_model("long").tags[HISTORY_TAG]
        assert len(raw) < 5_000
    history = registry.history("long")
    assert 3 <= len(history) < 24  # the oldest went; the newest stayed, in order
    assert [h["reason"][:14] for h in history] == [r[:14] for r in reasons[-len(history) :]]
    assert history[-1]["version"] == str(versions[23 % 2]) and history[-1]["previous"] == str(versions[0])
    stamped = registry.client.get_model_version("long", versions[1]).tags["flywheel.promotion_reason"]
    assert stamped.startswith(reasons[-1][:100]) and len(stamped) <= 4_000
    listing = CliRunner().invoke(cli, ["models", "list", "long"])
    assert (
        listing.exit_code == 0 and "promotion 23:" in listing.output and "promotion 0:" not in listing.output
    )


def test_bounded_history_drops_the_oldest_first() -> None:
    entries = [
        {"at": f"t{i}", "action": "promote", "version": str(i), "previous": None, "reason": "é" * 10_000,
         "actor": "a"}
        for i in range(1_000)
    ]  # fmt: skip
    kept = bounded_history(entries)
    assert len(json.dumps(kept)) < HISTORY_MAX_CHARS < 5_000
    assert [e["version"] for e in kept] == [str(i) for i in range(1_000 - len(kept), 1_000)]
    assert bounded_history([]) == []


def test_a_rollback_marks_the_version_it_takes_off(flywheel_env: Settings) -> None:
    registry = MlflowRegistry(flywheel_env.mlflow_tracking_uri)
    uri, run = _log_model(registry, "marks", flip=False)
    v1, v2 = (registry.register_version("marks", uri, run_id=run).version for _ in range(2))
    registry.promote("marks", v1, reason="first")
    registry.promote("marks", v2, reason="better")
    assert registry.rolled_back("marks", v2) is None
    registry.rollback("marks", reason="bad outputs", actor="ops")
    stamps = registry.rolled_back("marks", v2)
    assert stamps is not None and stamps["by"] == "ops" and stamps["reason"] == "bad outputs"
    assert registry.rolled_back("marks", v1) is None
    # A person choosing the version again lifts the mark.
    registry.promote("marks", v2, reason="fixed upstream", actor="ops", action="manual-promote")
    assert registry.rolled_back("marks", v2) is None


def test_the_promotion_lock_is_reentrant_and_exclusive(flywheel_env: Settings) -> None:
    import threading

    registry = MlflowRegistry(flywheel_env.mlflow_tracking_uri)
    order: list[str] = []

    def contend() -> None:
        with registry.locked("demo"):
            order.append("other")

    with registry.locked("demo"), registry.locked("demo"):  # nested in one thread: no deadlock
        other = threading.Thread(target=contend)
        other.start()
        other.join(timeout=0.5)
        order.append("holder")
    other.join(timeout=10)
    assert order == ["holder", "other"]  # the other thread waited for the lock

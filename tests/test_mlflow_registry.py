"""MlflowRegistry on a real SQLite tracking store: versions, aliases, champion history, rollback."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from orchestration.settings import Settings
from resources.mlflow_registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, MlflowRegistry, MlflowResource


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

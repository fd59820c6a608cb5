"""Both trainers on the real p1 windows, served through an MLflow pyfunc logged to and loaded from a
SQLite store; and the NumPy evaluation of the Spark forest against Spark's own predictions."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from assets.activity.features import FEATURE_NAMES, window_features
from assets.activity.model import (
    PREDICTION,
    TRAINERS,
    forest_arrays,
    pip_requirements,
    train_hist_gradient_boosting,
)
from resources.spark import SparkResource

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "casas_arwise"
LABEL = "activity_label"


@pytest.fixture(scope="module")
def spark():
    return SparkResource(master="local[2]").spark_session


@pytest.fixture(scope="module")
def windows() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(DATA / "p1_windows_train.csv"), pd.read_csv(DATA / "p1_windows_test.csv")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    try:
        yield mlflow.create_experiment("activity", artifact_location=(root / "artifacts").as_uri())
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_trainer_served_through_pyfunc(name: str, spark, windows, experiment: str) -> None:
    train, test = windows
    labels = sorted(train[LABEL].unique())  # from the data, never from code
    model = TRAINERS[name](train, labels, 0)
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.pyfunc.log_model(python_model=model, name="model", pip_requirements=pip_requirements())
    served = mlflow.pyfunc.load_model(info.model_uri)

    records = test.drop(columns=[LABEL])  # as they arrive on activity.records
    result = served.predict(records)
    assert list(result.columns) == [*labels, PREDICTION]
    probabilities = result[labels].to_numpy(dtype=float)
    assert np.allclose(probabilities.sum(axis=1), 1.0) and (probabilities >= 0).all()
    assert (result[PREDICTION].to_numpy() == np.asarray(labels)[probabilities.argmax(axis=1)]).all()

    accuracy = float((result[PREDICTION].to_numpy() == test[LABEL].to_numpy()).mean())
    majority_baseline = float((test[LABEL] == train[LABEL].mode()[0]).mean())  # always the commonest class
    majority_share = float(test[LABEL].value_counts(normalize=True).max())  # best constant guess in hindsight
    print(f"\n{name}: accuracy {accuracy:.3f}, majority {majority_baseline:.3f} / {majority_share:.3f}")
    assert accuracy > max(majority_baseline, majority_share)


def test_spark_forest_arrays_reproduce_spark(spark, windows) -> None:
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import VectorAssembler

    train, test = windows
    labels = sorted(train[LABEL].unique())
    assembler = VectorAssembler(inputCols=list(FEATURE_NAMES), outputCol="features")
    features = window_features(train).assign(label=train[LABEL].map(labels.index).astype(float))
    model = RandomForestClassifier(numTrees=15, maxDepth=6, seed=3).fit(
        assembler.transform(spark.createDataFrame(features))
    )
    test_features = window_features(test)
    expected = model.transform(assembler.transform(spark.createDataFrame(test_features))).select(
        "probability"
    )
    expected = np.stack([row["probability"].toArray() for row in expected.collect()])
    arrays = forest_arrays(model, np.zeros(len(FEATURE_NAMES)), len(labels))
    np.testing.assert_allclose(arrays.predict_proba(test_features), expected, rtol=0, atol=1e-12)


def test_labels_outside_the_given_classes_are_refused(windows) -> None:
    train, _ = windows
    with pytest.raises(ValueError, match="Socialize"):
        train_hist_gradient_boosting(train, sorted(set(train[LABEL]) - {"Socialize"}), 0)


def test_pip_requirements_are_pinned() -> None:
    requirements = pip_requirements()
    assert all("==" in r for r in requirements)
    assert {r.split("==")[0] for r in requirements} >= {"mlflow", "numpy", "pandas", "scikit-learn"}

"""The disaster-triage pyfunc: its output contract on raw records, a quality floor against the
majority baseline, and an MLflow round trip that predicts exactly as before logging."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
import sklearn

from assets.disaster.cleaning import parse_categories
from assets.disaster.model import (
    RECORD_COLUMNS,
    TRAINERS,
    DisasterTriageModel,
    pip_requirements,
    train_majority,
    train_tfidf_logreg,
)
from assets.lifecycle.metrics import indicator_matrix, weighted_fbeta
from orchestration.settings import Settings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "disaster_response"


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """2,000 training and 500 evaluation rows of the real data, deduplicated, related-2 removed."""
    messages = pd.read_csv(DATA / "disaster_messages.csv").drop_duplicates("id")
    categories = pd.read_csv(DATA / "disaster_categories.csv").drop_duplicates("id")
    labels_frame = parse_categories(categories["categories"]).assign(id=categories["id"].to_numpy())
    frame = messages.merge(labels_frame, on="id")
    frame = frame[frame["related"] != 2].sample(n=2500, random_state=7).reset_index(drop=True)
    labels = [c for c in labels_frame.columns if c != "id"]
    return frame.iloc[:2000], frame.iloc[2000:], labels


@pytest.fixture(scope="module")
def model(data) -> DisasterTriageModel:
    train, _, labels = data
    return train_tfidf_logreg(train, labels, seed=0)


def _raw_records() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "message": ["We need water and food in Leogane", None, "earthquake destroyed our house", "fire"],
            "genre": ["direct", "news", "carrier_pigeon", None],
            "unused": ["x", "y", "z", "w"],
        },
        index=[10, 11, 12, 13],
    )


def test_output_contract_on_raw_records(model: DisasterTriageModel, data) -> None:
    train, _, labels = data
    records = _raw_records()
    out = model.predict(None, records)
    assert list(out.columns) == [*labels, "prediction"]
    assert list(out.index) == list(records.index)
    proba = out[labels].to_numpy()
    assert proba.dtype == float and ((proba >= 0) & (proba <= 1)).all()
    for (_, row), predicted in zip(out.iterrows(), out["prediction"], strict=True):
        assert isinstance(predicted, list) and all(isinstance(name, str) for name in predicted)
        assert predicted == [name for name in labels if row[name] >= model.thresholds[name]]
    # child_alone is never 1 in the public data: it still gets a column, at its training rate.
    assert train["child_alone"].sum() == 0
    assert (out["child_alone"] == 0.0).all() and "child_alone" not in model.classifiers
    # Missing columns are tolerated too: without genre only the message matters.
    assert len(model.predict(None, records[["id", "message"]])) == len(records)
    assert model.predict(None, records.iloc[:0]).columns.tolist() == [*labels, "prediction"]


def test_predictions_follow_the_text(model: DisasterTriageModel, data) -> None:
    _, _, labels = data
    out = model.predict(None, _raw_records()).set_index(_raw_records()["message"].fillna("<none>"))
    assert (
        out.loc["We need water and food in Leogane", "water"]
        > out.loc["earthquake destroyed our house", "water"]
    )
    assert out.loc["earthquake destroyed our house", "earthquake"] > out.loc["<none>", "earthquake"]


def test_beats_the_majority_baseline(model: DisasterTriageModel, data) -> None:
    train, evaluation, labels = data
    truth = evaluation[labels].to_numpy()

    def f2(candidate: DisasterTriageModel) -> float:
        out = candidate.predict(None, evaluation[list(RECORD_COLUMNS)])
        return weighted_fbeta(truth, indicator_matrix(list(out["prediction"]), labels))

    majority = train_majority(train, labels)
    assert majority.predict(None, evaluation.head(3))["prediction"].tolist() == [["related"]] * 3
    assert train_majority not in TRAINERS.values()
    assert f2(model) > f2(majority) + 0.1
    stronger = TRAINERS["tfidf_wordchar_logreg"](train, labels, 0)
    assert f2(stronger) > f2(majority) + 0.1


def test_logged_model_predicts_the_same(
    model: DisasterTriageModel, data, flywheel_env: Settings, tmp_path: Path
) -> None:
    _, evaluation, _ = data
    records = pd.concat([_raw_records(), evaluation[list(RECORD_COLUMNS)].head(50)], ignore_index=True)
    mlflow.set_tracking_uri(flywheel_env.mlflow_tracking_uri)
    try:
        experiment = mlflow.create_experiment("disaster-test", artifact_location=(tmp_path / "art").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.pyfunc.log_model(
                python_model=model, name="model", pip_requirements=pip_requirements()
            )
        loaded = mlflow.pyfunc.load_model(info.model_uri)
    finally:
        mlflow.set_tracking_uri(None)  # later tests read their own MLFLOW_TRACKING_URI again
    pd.testing.assert_frame_equal(loaded.predict(records), model.predict(None, records))
    pinned = next((tmp_path / "art").rglob("requirements.txt")).read_text().split()
    assert set(pip_requirements()) <= set(pinned)
    assert f"scikit-learn=={sklearn.__version__}" in pinned

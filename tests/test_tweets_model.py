"""The AI-tweet pyfunc trained on weak labels: its contract on raw tweet records, the noise-aware
targets, quality on the frozen hand-labelled test set (never seen by LFs, label model or trainer)
against the all-AI baseline, and an MLflow round trip that predicts exactly as before saving."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import sklearn

from assets.tweets.model import (
    PREDICTION,
    TRAINERS,
    TweetRelevanceModel,
    class_names,
    pip_requirements,
    record_texts,
    soft_targets,
    train_confident_logreg,
    train_prior,
    train_soft_logreg,
)
from assets.tweets.parsing import read_landing_folder
from assets.tweets.splits import TweetSplits, build_splits
from assets.tweets.weak_supervision import run_weak_supervision, scores

TWEETS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tweets"
LABELS = ["0", "1"]


@pytest.fixture(scope="module")
def splits() -> TweetSplits:
    batch = read_landing_folder(TWEETS)
    return build_splits(batch.labelled, batch.unlabelled, batch.tweets)


@pytest.fixture(scope="module")
def weak_labels(splits: TweetSplits) -> pd.DataFrame:
    """The LF set and train, weakly labelled: ``label``, ``ai_probability``, ``lf_votes``."""
    unlabelled = pd.concat([splits.lf, splits.train], ignore_index=True)
    return run_weak_supervision(unlabelled, splits.dev, seed=0).weak_labels


@pytest.fixture(scope="module")
def model(weak_labels: pd.DataFrame) -> TweetRelevanceModel:
    return train_soft_logreg(weak_labels, LABELS, seed=0)


def _raw_records() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id_str": ["1", "2", "3", "4"],
            "text": [
                "RT @x: New deep learning model beats radiologists…",
                "Pasta for dinner tonight",
                None,
                "short",
            ],
            "full_text": [
                "RT @x: New deep learning model beats radiologists at reading x-rays #AI #MachineLearning",
                None,
                None,
                "",
            ],
            "lang": ["en", "en", "en", None],
        },
        index=[10, 11, 12, 13],
    )


def test_output_contract_on_raw_records(model: TweetRelevanceModel) -> None:
    records = _raw_records()
    out = model.predict(None, records)
    assert list(out.columns) == [*LABELS, PREDICTION] and list(out.index) == list(records.index)
    assert np.allclose(out["0"] + out["1"], 1.0) and out[LABELS].stack().between(0, 1).all()
    assert out[PREDICTION].dtype == "int64" and set(out[PREDICTION]) <= {0, 1}
    assert (out[PREDICTION] == (out["1"] >= model.threshold)).all()
    assert out.loc[10, "1"] > out.loc[11, "1"]  # full_text is read before the truncated text
    assert out.loc[10, PREDICTION] == 1 and out.loc[11, PREDICTION] == 0
    # Only an id and a text are needed; an id alone is not enough.
    assert len(model.predict(None, pd.DataFrame({"id": [1], "text": ["#AI"]}))) == 1
    with pytest.raises(ValueError, match="'text' or 'full_text'"):
        model.predict(None, records[["id_str", "lang"]])
    assert model.predict(None, records.iloc[:0]).columns.tolist() == [*LABELS, PREDICTION]


def test_record_texts_and_soft_targets() -> None:
    assert record_texts(_raw_records()).tolist() == [
        _raw_records().at[10, "full_text"],
        "Pasta for dinner tonight",
        "",
        "short",
    ]
    frame = pd.DataFrame(
        {"text": list("abcd"), "label": [1, 0, 1, 0], "ai_probability": [0.7, 0.2, None, None]}
    )
    assert soft_targets(frame).tolist() == [0.7, 0.2, 1.0, 0.0]  # hand labels are certain
    assert soft_targets(frame.drop(columns="ai_probability")).tolist() == [1.0, 0.0, 1.0, 0.0]
    assert class_names([1, 0]) == LABELS
    with pytest.raises(ValueError, match="binary"):
        class_names(["0", "1", "2"])


def test_degenerate_training_data_gives_the_prior() -> None:
    one_class = pd.DataFrame({"text": ["a b", "c d"], "label": [0, 0], "ai_probability": [0.0, 0.0]})
    model = train_soft_logreg(one_class, LABELS)
    assert model.pipeline is None
    assert model.predict(None, one_class)[PREDICTION].tolist() == [0, 0]
    baseline = train_prior(pd.DataFrame({"text": ["x"] * 4, "label": [1, 0, 0, 0]}), LABELS)
    assert baseline.predict(None, one_class)["1"].tolist() == [0.25, 0.25]
    assert train_prior not in TRAINERS.values()


def test_confidence_filtering_drops_silent_and_unsure_rows() -> None:
    texts = ["machine learning rocks", "deep learning model", "nice pasta", "football tonight", "who knows"]
    frame = pd.DataFrame(
        {
            "text": texts * 4,
            "label": [1, 1, 0, 0, 0] * 4,
            "ai_probability": [0.9, 0.95, 0.05, 0.1, 0.52] * 4,
            "lf_votes": [2, 1, 1, 0, 1] * 4,
        }
    )
    model = train_confident_logreg(frame, LABELS)
    vocabulary = model.pipeline.named_steps["features"].transformer_list[0][1].vocabulary_
    assert "football" not in vocabulary and "knows" not in vocabulary and "pasta" in vocabulary


def test_beats_the_all_ai_baseline_on_held_out_labels(
    model: TweetRelevanceModel, weak_labels: pd.DataFrame, splits: TweetSplits
) -> None:
    test = splits.test
    all_ai = scores(test["label"], np.ones(len(test), dtype=int))
    results = {"all_ai": all_ai}
    for name, trainer in TRAINERS.items():
        trained = model if name == "soft_logreg" else trainer(weak_labels, LABELS, 0)
        predicted = trained.predict(None, test[["id", "text"]])[PREDICTION]
        results[name] = scores(test["label"], predicted)
    print(f"\nclassifiers on {len(weak_labels)} weak labels, scored on {len(test)} held-out hand labels:")
    print(pd.DataFrame(results).T.round(3).to_string())
    assert results["soft_logreg"]["ai_f1"] > 2 * all_ai["ai_f1"]
    assert results["confident_logreg"]["ai_f1"] > all_ai["ai_f1"]


def test_saved_model_predicts_the_same(
    model: TweetRelevanceModel, splits: TweetSplits, tmp_path: Path
) -> None:
    records = pd.concat([_raw_records(), splits.test[["id", "text"]].head(50)], ignore_index=True)
    mlflow.pyfunc.save_model(
        path=str(tmp_path / "model"), python_model=model, pip_requirements=pip_requirements()
    )
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    pd.testing.assert_frame_equal(loaded.predict(records), model.predict(None, records))
    pinned = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert set(pip_requirements()) <= set(pinned)
    assert f"scikit-learn=={sklearn.__version__}" in pinned
    assert not any(p.startswith(("snorkel", "torch")) for p in pinned)

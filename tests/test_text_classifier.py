"""The shared text classifier on toy data: it learns separable classes (multi-class, binary from soft
targets, multi-label), keeps the output contract on raw records, tunes its cuts for the configured
metric, and predicts the same after a pickle round trip."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from assets.trainers.serving import fbeta_threshold
from assets.trainers.targets import hard_labels, soft_targets
from assets.trainers.text import (
    TextRecipe,
    TextTask,
    baseline_trainers,
    text_trainer,
    text_trainers,
)

WORDS = {
    "sport": ["football", "goal", "referee", "stadium", "match"],
    "food": ["pasta", "pizza", "dinner", "recipe", "garlic"],
    "tech": ["python", "compiler", "software", "laptop", "server"],
}
FILLER = ["today", "really", "the", "we", "about", "news", "new", "big"]


def _texts(classes: list[str], rows: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts made of two words of their class and two filler words, and their class."""
    rng = np.random.default_rng(seed)
    labels = [classes[i % len(classes)] for i in range(rows)]
    texts = [" ".join([*rng.choice(WORDS[c], 2, replace=False), *rng.choice(FILLER, 2)]) for c in labels]
    return texts, labels


def _multiclass_frame(rows: int, seed: int) -> pd.DataFrame:
    texts, labels = _texts(list(WORDS), rows, seed)
    half = [len(t) // 2 for t in texts]
    return pd.DataFrame(
        {
            "id": range(rows),
            "title": [t[:h] for t, h in zip(texts, half, strict=True)],
            "body": [t[h:] for t, h in zip(texts, half, strict=True)],
            "source": ["web" if i % 2 else "app" for i in range(rows)],
            "label": labels,
        }
    )


MULTICLASS = TextTask(
    text_columns=("title", "body"), categorical_columns=("source",), task="multiclass", metric="none"
)


@pytest.mark.parametrize("name", ["tfidf_logreg", "tfidf_wordchar_logreg"])
def test_multiclass_learns_and_keeps_the_contract(name: str) -> None:
    train, test = _multiclass_frame(90, seed=1), _multiclass_frame(30, seed=2)
    classes = sorted(WORDS)
    model = text_trainers(MULTICLASS)[name](train, classes, 0)
    records = test.drop(columns="label").assign(extra="ignored").set_index(pd.Index(range(100, 130)))
    out = model.predict(None, records)
    assert list(out.columns) == [*classes, "prediction"] and list(out.index) == list(records.index)
    assert np.allclose(out[classes].sum(axis=1), 1.0)
    assert (out["prediction"] == out[classes].idxmax(axis=1)).all()  # three classes: the argmax
    assert (out["prediction"].to_numpy() == test["label"].to_numpy()).mean() >= 0.9
    # Missing columns are empty text or an unknown category; no rows, no problem.
    assert model.predict(None, pd.DataFrame({"title": ["pizza pasta"]}))["prediction"].tolist() == ["food"]
    unseen = model.predict(None, pd.DataFrame({"body": ["python laptop"], "source": ["pigeon"]}))
    assert unseen["prediction"].tolist() == ["tech"]
    assert model.predict(None, records.iloc[:0]).columns.tolist() == [*classes, "prediction"]


def test_majority_baseline_predicts_the_training_rates() -> None:
    train = _multiclass_frame(30, seed=1)
    train.loc[:14, "label"] = "food"  # 20 food, 5 sport, 5 tech
    baseline = baseline_trainers(MULTICLASS)["majority"](train, sorted(WORDS), 0)
    out = baseline.predict(None, _multiclass_frame(4, seed=3))
    assert out["prediction"].tolist() == ["food"] * 4
    assert out[sorted(WORDS)].iloc[0].round(3).tolist() == [0.667, 0.167, 0.167]


BINARY = TextTask(text_columns=("text",), task="multiclass", metric="none", positive_class="spam")
SOFT = TextRecipe(features="word", word_min_df=1, C=4.0, targets="soft")


def _binary_frame() -> pd.DataFrame:
    """Hard labels that say ``ham`` everywhere; the soft targets know "prize" texts are spam."""
    texts = [f"win a prize {w}" for w in FILLER] + [f"meeting notes {w}" for w in FILLER]
    spam = [0.95] * len(FILLER) + [0.05] * len(FILLER)
    return pd.DataFrame(
        {"text": texts * 3, "label": "ham", "p_spam": spam * 3, "p_ham": [1 - p for p in spam] * 3}
    )


def test_binary_learns_from_soft_targets_not_the_hard_label() -> None:
    frame = _binary_frame()
    model = text_trainer(BINARY, SOFT)(frame, ["ham", "spam"], 0)
    out = model.predict(None, pd.DataFrame({"text": ["a prize to win", "notes of the meeting"]}))
    assert out["prediction"].tolist() == ["spam", "ham"]
    assert (out["prediction"] == np.where(out["spam"] >= model.thresholds["spam"], "spam", "ham")).all()
    # Without soft columns the same rows are all ham: a constant model at the training rate.
    hard = text_trainer(BINARY, SOFT)(frame[["text", "label"]], ["ham", "spam"], 0)
    assert hard.classifier is None and hard.predict(None, frame.head(2))["spam"].tolist() == [0.0, 0.0]


def test_soft_targets_fill_in_hard_labels_and_the_missing_class() -> None:
    frame = pd.DataFrame({"label": ["b", "a", "c"], "p_a": [0.2, None, 0.1], "p_b": [0.7, None, 0.1]})
    targets = soft_targets(frame, ["a", "b", "c"])
    assert targets.round(3).tolist() == [[0.2, 0.7, 0.1], [1.0, 0.0, 0.0], [0.1, 0.1, 0.8]]
    assert hard_labels(np.array([[0.5, 0.5], [0.6, 0.4]])).tolist() == [1, 0]  # a tie is positive
    with pytest.raises(ValueError, match="none for"):
        soft_targets(frame.drop(columns="p_b"), ["a", "b", "c"])
    with pytest.raises(ValueError, match="not among the classes"):
        soft_targets(frame.assign(label=["b", "z", "c"]).drop(columns=["p_a", "p_b"]), ["a", "b", "c"])


def test_confident_trainer_drops_rows_nobody_voted_on_and_unsure_rows() -> None:
    frame = pd.DataFrame(
        {
            "text": ["cheap prize now", "prize winner", "lunch plans", "football tonight", "who knows"] * 4,
            "label": ["spam", "spam", "ham", "ham", "ham"] * 4,
            "p_spam": [0.9, 0.95, 0.05, 0.1, 0.52] * 4,
            "lf_votes": [2, 1, 1, 0, 1] * 4,
        }
    )
    recipe = TextRecipe(features="word", targets="confident", min_confidence=0.55)
    model = text_trainer(BINARY, recipe)(frame, ["ham", "spam"], 0)
    vocabulary = model.features.named_transformers_["word"].vocabulary_
    assert "lunch" in vocabulary and "football" not in vocabulary and "knows" not in vocabulary


def test_fbeta_threshold_depends_on_the_metric() -> None:
    y, proba = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    assert fbeta_threshold(y, proba, beta=2.0) == 0.35  # recall first: take both positives
    assert fbeta_threshold(y, proba, beta=0.5) == 0.8  # precision first: only the sure one
    assert fbeta_threshold(y, proba, beta=2.0, between=True) == pytest.approx(0.225)  # 0.35 and 0.1
    assert fbeta_threshold(np.zeros(4, dtype=int), proba, 2.0) == 0.5  # nothing to tune on
    with pytest.raises(ValueError, match="unknown threshold metric"):
        TextTask(text_columns=("text",), task="multiclass", metric="f3")


def test_binary_cut_is_tuned_on_a_validation_split() -> None:
    """Rare positives whose words also appear in negatives: F2 wants a cut below 0.5."""
    rng = np.random.default_rng(0)
    rows = 400
    positive = rng.random(rows) < 0.15
    texts = [
        " ".join([*(["refund"] if p or rng.random() < 0.2 else []), *rng.choice(FILLER, 3)]) for p in positive
    ]
    frame = pd.DataFrame({"text": texts, "label": np.where(positive, "spam", "ham")})
    tuned = TextTask(text_columns=("text",), task="multiclass", metric="f2", positive_class="spam")
    recipe = TextRecipe(features="word", word_min_df=1)
    model = text_trainer(tuned, recipe)(frame, ["ham", "spam"], 0)
    plain = text_trainer(BINARY, recipe)(frame, ["ham", "spam"], 0)
    assert plain.thresholds == {"spam": 0.5}
    assert 0.0 < model.thresholds["spam"] < 0.5
    out = model.predict(None, frame)
    assert (out["prediction"] == np.where(out["spam"] >= model.thresholds["spam"], "spam", "ham")).all()
    assert (out["prediction"] == "spam").sum() > (plain.predict(None, frame)["prediction"] == "spam").sum()


MULTILABEL = TextTask(text_columns=("message",), task="multilabel", metric="f2")


def _multilabel_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sport, food = rng.random(rows) < 0.5, rng.random(rows) < 0.4
    messages = [
        " ".join(
            [
                *(rng.choice(WORDS["sport"], 2) if s else []),
                *(rng.choice(WORDS["food"], 2) if f else []),
                "hello",
            ]
        )
        for s, f in zip(sport, food, strict=True)
    ]
    return pd.DataFrame(
        {"message": messages, "sport": sport.astype(int), "food": food.astype(int), "never": 0}
    )


def test_multilabel_learns_labels_with_their_own_thresholds() -> None:
    labels = ["sport", "food", "never"]
    train, test = _multilabel_frame(160, seed=1), _multilabel_frame(40, seed=2)
    model = text_trainers(MULTILABEL)["tfidf_logreg"](train, labels, 0)
    out = model.predict(None, test[["message"]])
    assert list(out.columns) == [*labels, "prediction"]
    for (_, row), predicted in zip(out.iterrows(), out["prediction"], strict=True):
        assert predicted == [name for name in labels if row[name] >= model.thresholds[name]]
    assert set(model.thresholds) == set(labels) and model.thresholds["never"] == 0.5
    assert "never" not in model.classifiers and (out["never"] == 0.0).all()
    for label in ("sport", "food"):
        predicted = np.array([label in p for p in out["prediction"]])
        assert (predicted == test[label].astype(bool).to_numpy()).mean() >= 0.9


def test_pickle_round_trip_predicts_the_same() -> None:
    multiclass = text_trainers(MULTICLASS)["tfidf_wordchar_logreg"](
        _multiclass_frame(60, 1), sorted(WORDS), 0
    )
    multilabel = text_trainers(MULTILABEL)["tfidf_logreg"](
        _multilabel_frame(80, 1), ["sport", "food", "never"], 0
    )
    for model, records in (
        (multiclass, _multiclass_frame(20, seed=4).drop(columns="label")),
        (multilabel, _multilabel_frame(20, seed=4)[["message"]]),
    ):
        loaded = pickle.loads(pickle.dumps(model))
        pd.testing.assert_frame_equal(loaded.predict(None, records), model.predict(None, records))

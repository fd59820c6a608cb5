"""The shared weak-supervision machinery on a 3-class toy: LF summary, the blocking LF check, the label
model against majority vote where one LF is noise, and the one-call ``weak_labels`` contract (whose
frame the shared text trainer learns from as it is)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from snorkel.labeling import LabelingFunction

from assets.labeling.weak_supervision import (
    ABSTAIN,
    SUMMARY_COLUMNS,
    LabelSpace,
    check_lfs,
    compare_to_majority,
    majority_vote,
    run_weak_supervision,
    scores,
    weak_labels,
)
from assets.trainers.text import TextTask, text_trainers

CLASSES = ["ham", "spam", "eggs"]
WORDS = {"ham": "sandwich", "spam": "lottery", "eggs": "omelette"}


def _votes(rng: np.random.Generator, truth: np.ndarray, accuracy: float, coverage: float) -> np.ndarray:
    """An LF's votes: on ``coverage`` of the rows, the true class with probability ``accuracy``, else
    another class at random; -1 elsewhere."""
    wrong = (truth + rng.integers(1, 3, len(truth))) % 3
    votes = np.where(rng.random(len(truth)) < accuracy, truth, wrong)
    return np.where(rng.random(len(truth)) < coverage, votes, ABSTAIN)


def _toy(rows: int, seed: int) -> pd.DataFrame:
    """Rows of a hidden class with a word of it in their text, and the votes of four LFs: three
    decent ones and ``noise``, which votes on most rows at random."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, rows)
    return pd.DataFrame(
        {
            "id": range(rows),
            "text": [f"{WORDS[CLASSES[t]]} and some words {i % 7}" for i, t in enumerate(truth)],
            "good": _votes(rng, truth, 0.9, 0.6),
            "fair": _votes(rng, truth, 0.8, 0.5),
            "weak": _votes(rng, truth, 0.7, 0.5),
            "noise": np.where(rng.random(rows) < 0.7, rng.integers(0, 3, rows), ABSTAIN),
            "label": [CLASSES[t] for t in truth],
        }
    )


def _lf(column: str) -> LabelingFunction:
    return LabelingFunction(name=f"lf_{column}", f=lambda x, column=column: int(getattr(x, column)))


def _contrary() -> LabelingFunction:
    """Votes eggs exactly where the row is not eggs: worse than the rate of its class."""
    return LabelingFunction(
        name="lf_contrary", f=lambda x: 2 if x.label != "eggs" and x.id % 3 == 0 else ABSTAIN
    )


LFS = [_lf("good"), _lf("fair"), _lf("weak"), _lf("noise")]
SPACE = LabelSpace(tuple(CLASSES))


def test_summary_and_the_blocking_check() -> None:
    unlabelled, dev = _toy(600, seed=1), _toy(300, seed=2)
    result = run_weak_supervision(unlabelled, dev, [*LFS, _contrary()], SPACE)
    summary = result.summary.set_index("lf")
    assert list(result.summary.columns) == list(SUMMARY_COLUMNS)
    assert summary.loc["lf_good", "coverage"] == pytest.approx((unlabelled["good"] != ABSTAIN).mean())
    assert summary.loc["lf_good", "polarity"] == "0,1,2" and summary.loc["lf_contrary", "polarity"] == "2"
    assert summary.loc["lf_good", "dev_accuracy"] > 0.85 and summary.loc["lf_noise", "dev_accuracy"] < 0.45
    assert summary.loc["lf_contrary", "dev_accuracy"] == 0.0
    assert summary.loc["lf_contrary", "dev_class_rate"] == pytest.approx((dev["label"] == "eggs").mean())
    assert np.isnan(summary.loc["lf_good", "dev_class_rate"])  # votes for every class: no single rate
    # The contrary LF is flagged (worse than the rate of its class); the noise only with a floor.
    problems = check_lfs(result.summary)
    assert len(problems) == 1 and problems[0].startswith(
        "lf_contrary: dev accuracy 0.000 <= rate of its class"
    )
    assert any(p.startswith("lf_noise: dev accuracy") for p in check_lfs(result.summary, min_accuracy=0.5))


def test_label_model_does_not_lose_to_majority_vote_with_a_noisy_lf() -> None:
    unlabelled, dev = _toy(1500, seed=3), _toy(600, seed=4)
    result = run_weak_supervision(unlabelled, dev, LFS, SPACE, seed=0)
    table = result.comparison.set_index("method")
    assert list(table.index) == ["label_model", "majority_vote", "all_ham", "all_spam", "all_eggs"]
    assert {"accuracy", "ham_f1", "spam_recall", "eggs_precision", "lf_conflict"} <= set(table.columns)
    # Majority vote counts the noise as a full vote (0.68 here); the label model learns it is noise.
    assert table.loc["label_model", "accuracy"] > table.loc["majority_vote", "accuracy"] + 0.05
    assert table.loc["label_model", "accuracy"] > 0.75 > 0.4 > table.loc["all_ham", "accuracy"]
    learnt = result.label_model.get_weights()  # each LF's estimated accuracy: 0.9, 0.8, 0.7, 1/3
    assert learnt.argmin() == 3 and learnt[3] < 0.45 and learnt[0] > 0.8
    # The label model weighs the noise down: its probabilities follow the good LF where they clash.
    clash = (unlabelled["good"] != ABSTAIN) & (unlabelled["noise"] != ABSTAIN)
    clash &= unlabelled["good"] != unlabelled["noise"]
    agrees = result.probabilities[clash.to_numpy()].argmax(axis=1) == unlabelled.loc[clash, "good"].to_numpy()
    assert agrees.mean() > 0.7
    test = _toy(300, seed=5)
    assert result.compare(test, "test")["split"].eq("test").all()


def test_majority_vote_and_scores_follow_the_label_space() -> None:
    space = LabelSpace(("a", "b", "c"), names=("x", "y", "z"), fallback=2, focus=(1,))
    L = np.array([[0, 0, 1], [0, 1, -1], [-1, -1, -1], [1, 2, 2]])
    assert majority_vote(L, space).tolist() == [0, 2, 2, 2]  # a tie and silence: the fallback
    assert scores([0, 1, 1, 2], [0, 1, 2, 2], space) == {
        "accuracy": 0.75,
        "y_precision": 1.0,
        "y_recall": 0.5,
        "y_f1": pytest.approx(2 / 3),
    }

    class Uniform:
        def predict_proba(self, L: np.ndarray) -> np.ndarray:
            return np.tile([0.2, 0.5, 0.3], (len(L), 1))

    table = compare_to_majority(Uniform(), L, [0, 1, 2, 2], space).set_index("method")
    assert list(table.index) == ["label_model", "majority_vote", "all_x", "all_y", "all_z"]
    assert table["lf_conflict"].iloc[0] == 0.75  # rows 0, 1 and 3 hold votes for two classes
    with pytest.raises(ValueError, match="two classes"):
        LabelSpace(("only",))


def test_weak_labels_contract_feeds_the_text_trainer() -> None:
    unlabelled, dev = _toy(900, seed=6), _toy(300, seed=7)
    hidden = unlabelled.pop("label")
    frame, summary = weak_labels(unlabelled.set_index(unlabelled["id"] + 1000), LFS, CLASSES, dev, seed=0)
    soft = [f"p_{c}" for c in CLASSES]
    assert list(frame.index) == list(range(len(unlabelled)))
    assert list(frame.columns) == [*unlabelled.columns, "label", *soft, "lf_votes"]
    assert np.allclose(frame[soft].sum(axis=1), 1.0)
    assert (frame["label"] == frame[soft].idxmax(axis=1).str.removeprefix("p_")).all()
    assert (
        frame["lf_votes"].tolist()
        == (unlabelled[["good", "fair", "weak", "noise"]] != ABSTAIN).sum(axis=1).tolist()
    )
    assert (frame["label"] == hidden).mean() > 0.75
    assert summary["lf"].tolist() == ["lf_good", "lf_fair", "lf_weak", "lf_noise"]
    # The frame as it is trains the shared text classifier, whose predictions follow the true class.
    task = TextTask(text_columns=("text",), task="multiclass")
    model = text_trainers(task)["tfidf_logreg"](frame, CLASSES, 0)
    predicted = model.predict(None, dev[["text"]])["prediction"]
    assert (predicted == dev["label"]).mean() > 0.9


def test_weak_labels_without_dev_measure_nothing() -> None:
    frame, summary = weak_labels(_toy(300, seed=8).drop(columns="label"), LFS, CLASSES)
    assert len(frame) == 300 and summary["dev_accuracy"].isna().all()
    assert all(p.endswith("no vote on dev, accuracy unknown") for p in check_lfs(summary))

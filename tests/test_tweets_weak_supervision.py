"""Weak supervision on the real shared data: LF analysis (coverage, overlaps, conflicts, empirical
accuracy on dev), the LF asset check, the label model against majority vote on dev and on the frozen
test set, and the weak labels handed to the classifier. The numbers are printed (``pytest -s``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snorkel.labeling import LabelingFunction

from assets.tweets.labeling_functions import ABSTAIN, AI, OTHER, RULE_LFS
from assets.tweets.parsing import read_landing_folder
from assets.tweets.splits import TweetSplits, build_splits
from assets.tweets.weak_supervision import (
    SUMMARY_COLUMNS,
    WeakSupervision,
    check_lfs,
    class_balance,
    compare_to_majority,
    lf_summary,
    majority_vote,
    run_weak_supervision,
)

TWEETS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tweets"
SEED_LABEL_MODEL_ACCURACY = 0.803  # what the seed project reported for its label model


def _lf(name: str) -> LabelingFunction:
    return LabelingFunction(name=name, f=lambda x: ABSTAIN)


def test_lf_summary_counts_votes_against_dev_labels() -> None:
    L = np.array([[1, -1, 0], [1, 0, -1], [-1, 0, -1], [-1, -1, -1]])
    L_dev = np.array([[1, 0, -1], [1, -1, -1], [-1, 0, -1]])
    y_dev = [1, 0, 0]
    summary = lf_summary([_lf("a"), _lf("b"), _lf("c")], L, L_dev, y_dev)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary["polarity"].tolist() == ["1", "0", "0"]
    assert summary["coverage"].tolist() == [0.5, 0.5, 0.25]
    assert summary["conflicts"].tolist() == [0.5, 0.25, 0.25]
    assert summary["dev_correct"].tolist() == [1, 1, 0] and summary["dev_incorrect"].tolist() == [1, 1, 0]
    assert summary["dev_accuracy"].iloc[:2].tolist() == [0.5, 0.5] and np.isnan(summary.at[2, "dev_accuracy"])
    assert summary["dev_class_rate"].round(3).tolist() == [0.333, 0.667, 0.667]
    # a votes AI and is right half the time where AI is a third of dev: informative. b votes OTHER
    # and is right half the time where OTHER is two thirds: worse than the class rate.
    assert check_lfs(summary) == [
        "b: dev accuracy 0.500 <= rate of its class 0.667",
        "c: no vote on dev, accuracy unknown",
    ]
    assert check_lfs(summary.iloc[:1], min_accuracy=0.6) == ["a: dev accuracy 0.500 < 0.6"]
    never = summary.assign(coverage=[0.0, 0.5, 0.25], dev_accuracy=[0.5, 0.7, 0.9])
    assert check_lfs(never) == ["a: coverage 0.000 <= 0.0"]


def test_majority_vote_breaks_ties_and_silence_towards_other() -> None:
    L = np.array([[1, 1, 0], [1, 0, -1], [-1, -1, -1], [0, -1, -1], [1, -1, -1]])
    assert majority_vote(L).tolist() == [AI, OTHER, OTHER, OTHER, AI]
    assert class_balance([0, 0, 0, 1]).round(3).tolist() == [0.667, 0.333]  # (3+1)/6, (1+1)/6
    assert class_balance([0, 0]).tolist() == [0.75, 0.25]


@pytest.fixture(scope="module")
def splits() -> TweetSplits:
    batch = read_landing_folder(TWEETS)
    return build_splits(batch.labelled, batch.unlabelled, batch.tweets)


@pytest.fixture(scope="module")
def weak(splits: TweetSplits) -> WeakSupervision:
    unlabelled = pd.concat([splits.lf, splits.train], ignore_index=True)
    return run_weak_supervision(unlabelled, splits.dev, seed=0)


def test_lfs_cover_and_pass_the_asset_check(weak: WeakSupervision) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\nLF analysis (coverage/overlaps/conflicts on LF+train; dev_* on dev):")
        print(weak.summary.round(3).to_string(index=False))
    assert weak.summary["lf"].tolist() == [*(lf.name for lf in RULE_LFS), "lf_cluster"]
    assert (weak.summary["coverage"] > 0).all()
    assert check_lfs(weak.summary) == []  # each LF covers something and beats its class rate on dev
    assert set(weak.summary["polarity"]) == {"0", "1"}  # both classes get votes


def test_label_model_against_majority_vote(weak: WeakSupervision, splits: TweetSplits) -> None:
    comparison = pd.concat([weak.comparison, weak.compare(splits.test, "test")], ignore_index=True)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\nLabel model vs majority vote (ties and no votes -> OTHER):")
        print(comparison.round(3).to_string(index=False))
    table = comparison.set_index(["split", "method"])
    for split in ("dev", "test"):
        model, majority = table.loc[(split, "label_model")], table.loc[(split, "majority_vote")]
        all_ai = table.loc[(split, "all_ai")]
        # The label model can only differ from the vote where LFs disagree (lf_conflict): it must not
        # lose there, and both must beat flagging everything as AI.
        assert model["accuracy"] >= majority["accuracy"] - model["differs_from_majority"] / model["rows"]
        assert model["ai_f1"] > 2 * all_ai["ai_f1"]
    assert table.loc[("dev", "label_model"), "accuracy"] >= table.loc[("dev", "majority_vote"), "accuracy"]
    # Held out (never used to write LFs or map clusters): above what the seed reported.
    assert table.loc[("test", "label_model"), "accuracy"] > SEED_LABEL_MODEL_ACCURACY


def test_weak_labels_for_the_classifier(weak: WeakSupervision, splits: TweetSplits) -> None:
    frame = weak.weak_labels
    assert len(frame) == len(splits.lf) + len(splits.train)
    assert {"id", "text", "label", "ai_probability", "lf_votes"} <= set(frame.columns)
    assert frame["ai_probability"].between(0, 1).all()
    assert (frame["label"] == (frame["ai_probability"] > 0.5)).all()
    # Rows nobody voted on get the class balance: the label model's prior, from the dev labels.
    silent = frame.loc[frame["lf_votes"] == 0, "ai_probability"]
    assert len(silent) and np.allclose(silent, class_balance(splits.dev["label"])[AI], atol=1e-3)
    ai_rate = frame["label"].mean()
    assert 0.02 < ai_rate < 0.2, ai_rate  # near the dev AI rate (~9 %), not half the stream
    voted = (frame["lf_votes"] > 0).mean()
    print(f"\nweak labels: {len(frame)} rows, {ai_rate:.1%} AI, {voted:.1%} with a vote")


def test_compare_to_majority_columns() -> None:
    L = np.array([[1, -1], [-1, 0], [-1, -1]])

    class Prior:
        def predict_proba(self, L: np.ndarray) -> np.ndarray:
            return np.tile([0.3, 0.7], (len(L), 1))

    table = compare_to_majority(Prior(), L, [1, 0, 0], split="dev").set_index("method")
    assert table.loc["majority_vote", "accuracy"] == 1.0 and table.loc["label_model", "accuracy"] == 1 / 3
    assert table.loc["label_model", "differs_from_majority"] == 2 and table.loc["all_ai", "ai_recall"] == 1.0
    assert table["lf_coverage"].iloc[0] == pytest.approx(2 / 3) and table["lf_conflict"].iloc[0] == 0.0

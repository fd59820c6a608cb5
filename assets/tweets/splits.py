"""The four tweet sets weak supervision needs, with no text in two of them.

- ``test``: hand labels frozen for the final judgement (label model and classifier); never used to
  write, tune or weigh labeling functions.
- ``dev``: hand labels for developing labeling functions: their empirical accuracy, the clustering
  LF's cluster → label map, the label model's class balance.
- ``lf``: unlabelled tweets the label model is fitted on (the seed's ``ssp_LF_dataset.parquet``).
- ``train``: the remaining unlabelled tweets, weakly labelled for the classifier.

Test and dev are drawn by a salted hash of ``content_hash`` (as the lifecycle's holdout is drawn by
id), so a hand label keeps its side when more labels arrive and two copies of one text never straddle
the line. Ids cannot be the key: the seed's tables number their rows from 0 in every file. A text
belongs to one set only, in the order test/dev > lf > train; hand labels that disagree on one text are
dropped, as neither can be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from assets.lifecycle.holdout import in_holdout
from assets.tweets.parsing import dedupe

TEST_SALT = "tweets-test-v1"
LF_SALT = "tweets-lf-v1"
DEFAULT_TEST_FRACTION = 0.5


@dataclass(frozen=True)
class TweetSplits:
    """The sets, and what was dropped on the way (``reason`` says why) for the data-quality report."""

    test: pd.DataFrame
    dev: pd.DataFrame
    lf: pd.DataFrame
    train: pd.DataFrame
    dropped: pd.DataFrame

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("test", "dev", "lf", "train", "dropped")}


def _dropped(frame: pd.DataFrame, reason: str) -> pd.DataFrame:
    return frame.assign(reason=reason)


def resolve_hand_labels(labelled: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, dropped): one row per text; texts whose copies disagree on the label are dropped."""
    labels_per_text = labelled.groupby("content_hash")["label"].transform("nunique")
    conflicting = labelled[labels_per_text > 1]
    kept, duplicates = dedupe(labelled[labels_per_text <= 1])
    return kept, pd.concat(
        [
            _dropped(conflicting, "conflicting hand labels"),
            _dropped(duplicates, "duplicate hand-labelled text"),
        ],
        ignore_index=True,
    )


def split_hand_labels(
    labelled: pd.DataFrame, test_fraction: float = DEFAULT_TEST_FRACTION, salt: str = TEST_SALT
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(test, dev) by a salted hash of ``content_hash``: deterministic, order-free, stable as rows
    are added. Half and half by default: with ~8 % AI tweets, each side needs enough positives (the
    seed's 500 labels hold 42) for an F1 that means something."""
    is_test = in_holdout(labelled["content_hash"], test_fraction, salt)
    return labelled[is_test].reset_index(drop=True), labelled[~is_test].reset_index(drop=True)


def build_splits(
    labelled: pd.DataFrame,
    unlabelled: pd.DataFrame,
    tweets: pd.DataFrame,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    lf_fraction_if_none: float = 0.2,
    salt: str = TEST_SALT,
) -> TweetSplits:
    """Test, dev, LF and train sets from hand-labelled rows (landed tables and the annotation page),
    unlabelled table rows and parsed tweets (frames as :mod:`~assets.tweets.parsing` makes them).

    When no unlabelled table has landed, ``lf_fraction_if_none`` of the tweets (by hash) stand in for
    the LF set, so the label model always has data of its own.
    """
    hand, dropped_hand = resolve_hand_labels(labelled)
    test, dev = split_hand_labels(hand, test_fraction, salt)
    hand_texts = set(hand["content_hash"])
    unlabelled_hand = unlabelled["content_hash"].isin(hand_texts)
    tweets_hand = tweets["content_hash"].isin(hand_texts)
    free_tweets = tweets[~tweets_hand]
    lf_source = unlabelled[~unlabelled_hand]
    if not len(lf_source) and len(free_tweets):
        drawn = in_holdout(free_tweets["content_hash"], lf_fraction_if_none, LF_SALT)
        lf_source, free_tweets = free_tweets[drawn], free_tweets[~drawn]
    lf, lf_duplicates = dedupe(lf_source)
    tweets_lf = free_tweets["content_hash"].isin(set(lf["content_hash"]))
    train, train_duplicates = dedupe(free_tweets[~tweets_lf])
    dropped = pd.concat(
        [
            dropped_hand,
            _dropped(unlabelled[unlabelled_hand], "text already hand-labelled"),
            _dropped(tweets[tweets_hand], "text already hand-labelled"),
            _dropped(lf_duplicates, "duplicate text"),
            _dropped(free_tweets[tweets_lf], "text already in the LF set"),
            _dropped(train_duplicates, "duplicate text"),
        ],
        ignore_index=True,
    )
    return TweetSplits(test, dev, lf, train, dropped)

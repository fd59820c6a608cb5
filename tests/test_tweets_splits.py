"""Tweet sets: a frozen test and a dev set of hand labels drawn by content hash, an LF set and the
unlabelled rest, no text in two sets; checked on the shared data and on small frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from assets.tweets.parsing import TEXT_COLUMNS, content_hash, read_landing_folder
from assets.tweets.splits import build_splits, resolve_hand_labels, split_hand_labels

TWEETS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tweets"


def _rows(texts: list[str], labels: list[int] | None = None, prefix: str = "") -> pd.DataFrame:
    frame = pd.DataFrame({"id": [f"{prefix}{i}" for i in range(len(texts))], "text": texts})
    frame = frame.assign(content_hash=frame["text"].map(content_hash), origin="test")
    return frame if labels is None else frame.assign(label=labels)


def test_shared_data_splits_are_disjoint_and_complete() -> None:
    batch = read_landing_folder(TWEETS)
    splits = build_splits(batch.labelled, batch.unlabelled, batch.tweets)
    counts = splits.counts()
    assert counts["test"] + counts["dev"] == 497  # 500 hand labels, 3 repeated texts
    assert counts["lf"] == 972 and counts["train"] == 827
    sets = [set(getattr(splits, name)["content_hash"]) for name in ("test", "dev", "lf", "train")]
    assert sum(map(len, sets)) == len(set().union(*sets))  # no text in two sets
    assert all(s for s in sets)
    assert splits.test["label"].sum() >= 15 and splits.dev["label"].sum() >= 15  # F1 needs positives
    # Every input row is in a set or dropped with a reason.
    total_in = len(batch.labelled) + len(batch.unlabelled) + len(batch.tweets)
    assert sum(counts.values()) == total_in
    assert splits.dropped["reason"].notna().all()


def test_test_set_is_stable_as_labels_arrive() -> None:
    first = _rows([f"tweet number {i}" for i in range(200)], [i % 2 for i in range(200)])
    more = pd.concat([first, _rows([f"another tweet {i}" for i in range(200)], [0] * 200, "n")])
    test_a, dev_a = split_hand_labels(first)
    test_b, _ = split_hand_labels(more.sample(frac=1.0, random_state=3))
    assert set(test_a["content_hash"]) <= set(test_b["content_hash"])  # nothing moves to dev
    assert 60 < len(test_a) < 140 and len(test_a) + len(dev_a) == 200
    assert split_hand_labels(first, salt="other")[0]["id"].tolist() != test_a["id"].tolist()


def test_conflicting_hand_labels_are_dropped_and_sets_take_precedence() -> None:
    labelled = _rows(["AI rocks", "ai rocks https://t.co/x", "cats", "CATS", "dogs"], [1, 0, 0, 0, 0])
    kept, dropped = resolve_hand_labels(labelled)
    assert kept["text"].tolist() == ["cats", "dogs"]
    assert sorted(dropped["reason"]) == [
        "conflicting hand labels",
        "conflicting hand labels",
        "duplicate hand-labelled text",
    ]
    unlabelled = _rows(["dogs", "birds", "birds"], prefix="u")
    tweets = _rows(["birds", "fish", "fish", "cats"], prefix="t")
    splits = build_splits(labelled, unlabelled, tweets)
    assert sorted(splits.lf["text"]) == ["birds"] and splits.train["text"].tolist() == ["fish"]
    assert set(splits.dropped["reason"]) >= {"text already hand-labelled", "text already in the LF set"}


def test_lf_set_is_drawn_from_tweets_when_none_landed() -> None:
    tweets = _rows([f"a tweet about thing {i}" for i in range(300)], prefix="t")
    empty = pd.DataFrame(columns=list(TEXT_COLUMNS))
    splits = build_splits(_rows(["x"], [0]), empty, tweets, lf_fraction_if_none=0.2)
    assert 30 < len(splits.lf) < 90 and len(splits.lf) + len(splits.train) == 300
    assert not set(splits.lf["id"]) & set(splits.train["id"])

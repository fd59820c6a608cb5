"""Tweets landing: Twitter v1.1 objects → parsed rows (extended and retweeted text, expanded links,
media, hashtags), tables of ``id,text[,label]``, quarantine with reasons, normalized-text duplicates,
and the shared data folder read exactly as it would land."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from assets.tweets.parsing import (
    LABELLED_COLUMNS,
    QUARANTINE_COLUMNS,
    TEXT_COLUMNS,
    TWEET_COLUMNS,
    content_hash,
    dedupe,
    is_landing_file,
    normalize_text,
    parse_label,
    parse_tweet,
    read_landing_file,
    read_landing_files,
    read_landing_folder,
)

TWEETS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tweets"
EXTENDED = TWEETS / "raw" / "1246751119155449856.json"  # truncated tweet: extended_tweet, link, photo
RETWEET = TWEETS / "raw" / "1246751124213960711.json"  # retweet of an extended tweet with a link


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_extended_tweet_keeps_full_text_expanded_links_media_and_hashtags() -> None:
    obj = _load(EXTENDED)
    assert obj["truncated"] and obj["text"].endswith("https://t.co/2GzJdmh0g4")
    row = parse_tweet(obj)
    assert set(row) == set(TWEET_COLUMNS) - {"origin"}
    assert row["id"] == "1246751119155449856" and isinstance(row["id"], str)
    assert row["text"] == obj["extended_tweet"]["full_text"]
    assert row["created_at"] == pd.Timestamp("2020-04-05 10:46:44", tz="UTC")
    assert row["source"] == "Widget websmenu" and row["lang"] == "en" and row["user"] == "websmenu"
    # The expanded link, not the t.co one, and not Twitter's link to the truncated tweet itself.
    assert len(row["urls"]) == 1 and row["urls"][0].startswith("https://optionshowcase.com/giftadvisor/")
    assert row["media_urls"] == ["https://pbs.twimg.com/media/EU1ZiS7UEAI_JoS.jpg"]
    assert row["hashtags"][:3] == ["Monday", "Tuesday", "Wednesday"] and "UnitedStates" in row["hashtags"]
    assert row["is_retweet"] is False and row["content_hash"] == content_hash(row["text"])


def test_retweet_text_is_the_retweeted_full_text_with_its_links() -> None:
    obj = _load(RETWEET)
    assert obj["text"].startswith("RT @TheDemCoalition:") and obj["text"].endswith("…")
    row = parse_tweet(obj)
    assert row["text"] == obj["retweeted_status"]["extended_tweet"]["full_text"]
    assert row["urls"] == [
        "https://slate.com/news-and-politics/2020/04/"
        "trump-fires-michael-atkinson-intelligence-watchdog-whistleblower-complaint.html"
    ]
    assert row["hashtags"] == ["coronavirus", "MangoMussolini"]
    assert row["is_retweet"] is True and row["user"] == "FoodEthicist"  # who retweeted
    # Copies of one text dedupe whoever retweets them: same hash as the original's text.
    assert row["content_hash"] == content_hash("RT @TheDemCoalition: " + row["text"])


def test_minimal_and_rest_shaped_objects() -> None:
    row = parse_tweet({"id": 1246751119155449856, "full_text": "Deep learning &amp; you"})
    assert row["id"] == "1246751119155449856" and row["text"] == "Deep learning &amp; you"
    assert row["created_at"] is None and row["urls"] == [] and row["user"] is None
    iso = parse_tweet({"id_str": "7", "text": "x", "created_at": "2020-04-05T10:46:44.000Z"})
    assert iso["created_at"] == pd.Timestamp("2020-04-05 10:46:44", tz="UTC")
    stamped = parse_tweet({"id_str": "7", "text": "x", "timestamp_ms": "1586083604000"})
    assert stamped["created_at"] == pd.Timestamp("2020-04-05 10:46:44", tz="UTC")


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([1, 2], "not a JSON object"),
        ({"delete": {"status": {"id": 1}}}, "stream notice 'delete'"),
        ({"limit": {"track": 10}}, "stream notice 'limit'"),
        ({"text": "no id"}, "missing id_str and id"),
        ({"id_str": "1", "text": "   "}, "missing text"),
        ({"id_str": "1", "text": "x", "created_at": "yesterday-ish"}, "unparseable created_at"),
    ],
)
def test_unusable_objects_raise_with_a_reason(obj: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_tweet(obj)


def test_normalize_and_hash_ignore_what_copies_change() -> None:
    a = "RT @someone: Amazing #NLG &amp; narratives https://t.co/h0DW4e6mO1\n\n Free Trial"
    b = "amazing #nlg & narratives   free trial https://t.co/OtherLink"
    assert normalize_text(a) == normalize_text(b) == "amazing #nlg & narratives free trial"
    assert content_hash(a) == content_hash(b) and len(content_hash(a)) == 16
    assert content_hash("amazing #nlg") != content_hash("amazing #nlp")
    # Bare links normalize to nothing: they must not all become one "duplicate".
    assert content_hash("https://t.co/a") != content_hash("https://t.co/b")


def test_parse_label() -> None:
    assert [parse_label(v) for v in (0, 1, 1.0, True, "1", " 0 ", "true")] == [0, 1, 1, 1, 1, 0, 1]
    assert [parse_label(v) for v in (None, float("nan"), "")] == [None, None, None]
    for bad in (2, "AI", -1, 0.5):
        with pytest.raises(ValueError, match="not 0 or 1"):
            parse_label(bad)


def test_json_lines_file_quarantines_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps(_load(EXTENDED)),
        "{not json",
        json.dumps({"delete": {"status": {"id": 5}}}),
        "",
        json.dumps({"id_str": "9", "text": "labelled by the annotation page", "label": 1}),
        json.dumps({"id": 10, "text": "exported, not yet labelled", "label": None}),
        json.dumps({"id": 11, "text": "bad label", "label": 3}),
    ]
    path = tmp_path / "stream.jsonl"
    path.write_text("\n".join(lines))
    batch = read_landing_file(path)
    assert batch.counts() == {"tweets": 1, "labelled": 1, "unlabelled": 1, "quarantined": 3}
    assert (
        list(batch.tweets.columns) == list(TWEET_COLUMNS) and batch.tweets.at[0, "origin"] == "stream.jsonl"
    )
    assert batch.labelled[["id", "label"]].to_dict("records") == [{"id": "9", "label": 1}]
    assert batch.unlabelled["id"].tolist() == ["10"]
    q = batch.quarantined
    assert list(q.columns) == list(QUARANTINE_COLUMNS)
    assert q["position"].tolist() == [2, 3, 7]
    assert q["reason"].str.startswith("invalid JSON").iloc[0]
    assert q["reason"].tolist()[1:] == ["stream notice 'delete', not a tweet", "label 3 is not 0 or 1"]
    assert q["id"].tolist()[1:] == [None, "11"]


def test_single_object_array_and_bytes(tmp_path: Path) -> None:
    one = read_landing_file(EXTENDED)
    assert one.counts() == {"tweets": 1, "labelled": 0, "unlabelled": 0, "quarantined": 0}
    array = tmp_path / "two.json"
    array.write_text(json.dumps([_load(EXTENDED), _load(RETWEET)]))
    assert read_landing_file(array).tweets["id"].tolist() == ["1246751119155449856", "1246751124213960711"]
    # Bytes from an object store: the key's suffix tells the format.
    from_bytes = read_landing_file("tweets/raw/x.json", data=RETWEET.read_bytes(), origin="tweets/raw/x.json")
    assert from_bytes.tweets.at[0, "origin"] == "tweets/raw/x.json"
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    assert read_landing_file(empty).quarantined["reason"].tolist() == ["empty file"]
    binary = tmp_path / "latin1.json"
    binary.write_bytes(b'{"id": 1, "text": "caf\xe9"}')
    assert read_landing_file(binary).quarantined["reason"].str.startswith("not UTF-8").all()


def test_csv_keeps_big_ids_exact_and_sorts_rows(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "id,text,label\n"
        "1246751119155449856,Machine learning in production,1\n"
        "2,Lovely walk today,0\n"
        "3,No label yet,\n"
        "4,,1\n"
        ",no id,0\n"
        "6,NA,2\n"
    )
    batch = read_landing_file(path)
    assert list(batch.labelled.columns) == list(LABELLED_COLUMNS)
    assert batch.labelled["id"].tolist() == ["1246751119155449856", "2"]
    assert batch.labelled["label"].tolist() == [1, 0] and batch.labelled["label"].dtype == "int64"
    assert list(batch.unlabelled.columns) == list(TEXT_COLUMNS) and batch.unlabelled["id"].tolist() == ["3"]
    assert batch.quarantined["reason"].tolist() == ["missing text", "missing id", "label '2' is not 0 or 1"]


def test_seed_parquet_tables() -> None:
    labelled = read_landing_file(TWEETS / "ssp_val_dataset.parquet")
    assert labelled.counts() == {"tweets": 0, "labelled": 500, "unlabelled": 0, "quarantined": 0}
    assert labelled.labelled["label"].sum() == 42
    unlabelled = read_landing_file(TWEETS / "ssp_LF_dataset.parquet")
    assert unlabelled.counts() == {"tweets": 0, "labelled": 0, "unlabelled": 1000, "quarantined": 0}
    # The seed numbers rows from 0 in every file: ids collide, which is why content_hash is the key.
    assert set(labelled.labelled["id"]) <= set(unlabelled.unlabelled["id"])


def test_shared_folder_as_it_lands() -> None:
    assert not is_landing_file("LICENSE") and is_landing_file("a/B.JSON") and is_landing_file("x.csv")
    with pytest.raises(ValueError, match="not a tweets landing file"):
        read_landing_file(TWEETS / "LICENSE")
    batch = read_landing_folder(TWEETS)  # LICENSE and all
    assert batch.counts() == {"tweets": 1000, "labelled": 500, "unlabelled": 1000, "quarantined": 0}
    tweets = batch.tweets
    assert tweets["id"].is_unique and tweets["origin"].str.startswith("raw/").all()
    assert str(tweets["created_at"].dtype) == "datetime64[ns, UTC]"
    assert tweets["is_retweet"].sum() == 654
    assert not tweets["text"].str.endswith("…").any()  # no truncated text survives
    assert not tweets["urls"].map(lambda urls: any("twitter.com/i/web" in u for u in urls)).any()
    assert tweets["urls"].map(len).sum() > 0 and tweets["media_urls"].map(len).sum() > 0
    same = read_landing_files(
        ["raw/1246751119155449856.json", "LICENSE"], lambda k: (TWEETS / k).read_bytes()
    )
    assert same.counts()["tweets"] == 1


def test_dedupe_on_normalized_text() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "text": ["Hello AI https://t.co/1", "RT @x: hello  ai https://t.co/2", "Other", "hello ai!"],
        }
    ).assign(content_hash=lambda f: f["text"].map(content_hash))
    kept, dropped = dedupe(frame)
    assert kept["id"].tolist() == ["a", "c", "d"]
    assert dropped[["id", "duplicate_of"]].to_dict("records") == [{"id": "b", "duplicate_of": "a"}]
    tweets = read_landing_folder(TWEETS / "raw").tweets
    kept, dropped = dedupe(tweets)
    assert len(kept) + len(dropped) == 1000 and kept["content_hash"].is_unique and len(dropped) > 100

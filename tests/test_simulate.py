"""``flywheel simulate`` against the session's real broker: records in the champion's input shape."""

import json

import pandas as pd
from click.testing import CliRunner

from assets.activity.layouts import LABEL_COLUMN, WINDOW_COLUMNS
from orchestration.cli import main
from orchestration.settings import Settings
from resources.kafka import KafkaResource


def _read_all(settings: Settings, topic: str) -> list:
    kafka = KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)
    start, end = kafka.beginning_offsets(topic), kafka.end_offsets(topic)
    return list(kafka.read_range(topic, {p: (start[p], end[p]) for p in end}))


def test_simulate_activity_publishes_unlabelled_windows(kafka_env: Settings) -> None:
    result = CliRunner().invoke(
        main, ["simulate", "activity", "--count", "30", "--rate", "200", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert f"sent 30 records to {kafka_env.topic('activity')}" in result.output
    records = [json.loads(r.value) for r in _read_all(kafka_env, kafka_env.topic("activity"))]
    assert len(records) == 30
    assert all(set(r) == {"window_id", *WINDOW_COLUMNS} - {LABEL_COLUMN} for r in records)
    assert len({r["window_id"] for r in records}) == 30
    stamps = pd.to_datetime([r["stamp"] for r in records])
    now = pd.Timestamp.now()
    assert ((stamps <= now) & (stamps > now - pd.Timedelta(days=7))).all()  # real clock times, this week


def test_simulate_disaster_mixes_in_the_poison_share(kafka_env: Settings) -> None:
    result = CliRunner().invoke(main, ["simulate", "disaster", "--count", "200", "--poison-share", "0.1"])
    assert result.exit_code == 0, result.output
    messages = _read_all(kafka_env, kafka_env.topic("disaster"))
    assert len(messages) == 200
    poison = [m for m in messages if m.key.startswith("poison-")]
    assert 5 <= len(poison) <= 40  # 10 % of 200, binomial
    assert f"({len(poison)} poison)" in result.output
    good = [json.loads(m.value) for m in messages if not m.key.startswith("poison-")]
    assert all(r["message"] and r["genre"] in {"news", "direct", "social"} for r in good)


def test_simulate_refuses_unknown_use_cases(kafka_env: Settings) -> None:
    result = CliRunner().invoke(main, ["simulate", "nope", "--count", "1"])
    assert result.exit_code == 1 and "unknown use case" in result.output


def test_simulate_tweets_publishes_raw_tweet_objects(kafka_env: Settings) -> None:
    result = CliRunner().invoke(main, ["simulate", "tweets", "--count", "25"])
    assert result.exit_code == 0, result.output
    assert kafka_env.topic("tweets", "raw").endswith("tweets.raw")
    tweets = [json.loads(m.value) for m in _read_all(kafka_env, kafka_env.topic("tweets", "raw"))]
    assert len(tweets) == 25 and all(t["text"] and t["id_str"].startswith("sim-") for t in tweets)

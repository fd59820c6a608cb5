"""Pure parts of the loop: uncertainty scores, message parsing, offset-range keys, batch planning."""

import json

import numpy as np
import pytest

from assets.loop.records import RecordSchema, parse_message, parse_ranges_key, ranges_key
from assets.loop.uncertainty import multiclass_scores, multilabel_scores, select
from sensors.kafka import KafkaCursor, plan_batches

PROBA = np.array([[0.98, 0.01, 0.01], [0.5, 0.49, 0.01], [0.34, 0.33, 0.33], [0.6, 0.2, 0.2]])


@pytest.mark.parametrize("strategy", ["least_confidence", "margin", "entropy"])
def test_confident_rows_score_lowest_and_scores_lie_in_unit_range(strategy: str) -> None:
    scores = multiclass_scores(PROBA, strategy)
    assert scores.argmin() == 0
    assert ((scores >= 0) & (scores <= 1 + 1e-9)).all()


def test_strategies_disagree_where_they_should() -> None:
    # A near tie between two classes: margin calls it the most uncertain, entropy prefers the flat row.
    assert multiclass_scores(PROBA, "margin").argmax() == 1
    assert multiclass_scores(PROBA, "entropy").argmax() == 2
    assert multiclass_scores(PROBA, "least_confidence").argmax() == 2
    assert multiclass_scores(np.array([[0.5, 0.5]]), "entropy")[0] == pytest.approx(1.0)


def test_multilabel_aggregates_per_label_uncertainty() -> None:
    proba = np.array([[0.5, 0.99, 0.01], [0.6, 0.6, 0.6], [0.01, 0.99, 0.02]])
    mean = multilabel_scores(proba, "entropy", "mean")
    top = multilabel_scores(proba, "entropy", "max")
    assert mean.argmax() == 1  # unsure about every label
    assert top.argmax() == 0  # one label at exactly 0.5
    assert mean.argmin() == top.argmin() == 2
    with pytest.raises(ValueError, match="aggregate"):
        multilabel_scores(proba, "entropy", "median")


def test_select_takes_the_budget_most_uncertain_first() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.2])
    assert select(scores, 3).tolist() == [1, 3, 2]
    assert select(scores, 0).tolist() == [] and len(select(scores, 10)) == 5


def test_parse_message_quarantines_poison_with_reasons() -> None:
    schema = RecordSchema(key_field="id", required=("message",), numeric=("x",))
    assert parse_message(json.dumps({"id": 1, "message": "hi", "x": 2.5}).encode(), schema)[1] is None
    cases = {
        b"{oops": "not_json",
        b"[1, 2]": "not_an_object",
        json.dumps({"id": 1}).encode(): "missing_fields: message",
        json.dumps({"id": 1, "message": "hi", "x": "7"}).encode(): "non_numeric: x",
        json.dumps({"id": "", "message": "hi"}).encode(): "missing_fields: id",
        None: "empty_message",
    }
    for value, reason in cases.items():
        record, why = parse_message(value, schema)
        assert record is None and why.startswith(reason), (value, why)


def test_ranges_key_round_trips_and_rejects_nonsense() -> None:
    ranges = {1: (50, 150), 0: (100, 200)}
    key = ranges_key(ranges)
    assert key == "p0=100-200,p1=50-150" and parse_ranges_key(key) == ranges
    for bad in ("p0=5-5", "p0=1-2,p0=3-4", "zero=1-2", ""):
        with pytest.raises(ValueError):
            parse_ranges_key(bad)


def test_plan_batches_chunks_a_backlog_and_waits_for_a_trickle() -> None:
    begin, end = {0: 0, 1: 0}, {0: 130, 1: 120}
    batches, cursor = plan_batches(KafkaCursor(), begin, end, batch_size=100, max_wait_seconds=60, now=1000.0)
    assert [sum(e - s for s, e in b.values()) for b in batches] == [100, 100]
    covered = sorted((p, o) for b in batches for p, (s, e) in b.items() for o in range(s, e))
    assert len(covered) == len(set(covered)) == 200  # contiguous, no overlap
    assert cursor.pending_since == 1000.0 and sum(cursor.offsets.values()) == 200

    again, same = plan_batches(cursor, begin, end, 100, 60, now=1030.0)
    assert again == [] and same.pending_since == 1000.0  # 50 waiting, not long enough
    late, done = plan_batches(cursor, begin, end, 100, 60, now=1061.0)
    assert sum(e - s for b in late for s, e in b.values()) == 50 and done.pending_since is None
    assert done.offsets == end
    assert KafkaCursor.parse(done.dump()) == done


def test_plan_batches_starts_new_partitions_at_the_log_start() -> None:
    batches, _ = plan_batches(KafkaCursor({0: 10}), {0: 0, 1: 40}, {0: 10, 1: 45}, 5, 60, now=0.0)
    assert batches == [{1: (40, 45)}]


def test_ranges_key_carries_the_topic_id() -> None:
    from assets.loop.records import key_topic_tag, topic_tag

    key = ranges_key({0: (0, 100)}, "3f9a2b1c-0d4e-4f5a-9b8c-7d6e5f4a3b2c")
    assert key == "3f9a2b1c0d4e:p0=0-100" and key_topic_tag(key) == topic_tag(
        "3f9a2b1c-0d4e-4f5a-9b8c-7d6e5f4a3b2c"
    )
    assert parse_ranges_key(key) == {0: (0, 100)} and key_topic_tag("p0=0-100") is None


def test_a_tick_with_missing_or_partial_metadata_skips_and_keeps_its_cursor() -> None:
    from sensors.kafka import decide_tick

    cursor = KafkaCursor({0: 50, 1: 40}, None, "t.records", "id-1")
    for end in ({}, {0: 90}):  # nothing seen, or a partition the cursor has is missing
        decision = decide_tick(cursor, "t.records", "id-1", {0: 0}, end, 10, 60, 0.0)
        assert decision.keys == [] and decision.cursor == cursor and decision.skip
    unknown = decide_tick(cursor, "t.records", None, {0: 0, 1: 0}, {0: 90, 1: 90}, 10, 60, 0.0)
    assert unknown.keys == [] and unknown.cursor == cursor and unknown.skip


def test_a_new_topic_id_or_name_starts_the_topic_over() -> None:
    from sensors.kafka import decide_tick

    cursor = KafkaCursor({0: 500}, None, "t.records", "id-1")
    recreated = decide_tick(cursor, "t.records", "id-2", {0: 0}, {0: 20}, 10, 60, 0.0)
    assert recreated.reset and "created again" in recreated.reset
    assert recreated.keys == ["id2:p0=0-10", "id2:p0=10-20"] and recreated.cursor.topic_id == "id-2"
    renamed = decide_tick(cursor, "u.records", "id-3", {0: 0}, {0: 20}, 10, 60, 0.0)
    assert renamed.reset and "topic changed" in renamed.reset
    # An older cursor without an id adopts the topic's id, unless the log fell below it (recreated).
    old = KafkaCursor({0: 10})
    adopted = decide_tick(old, "t.records", "id-1", {0: 0}, {0: 20}, 10, 60, 0.0)
    assert adopted.reset is None and adopted.keys == ["id1:p0=10-20"]
    assert decide_tick(KafkaCursor({0: 30}), "t.records", "id-1", {0: 0}, {0: 20}, 10, 60, 0.0).reset


def test_offsets_below_the_log_start_are_handed_out_as_one_expired_batch() -> None:
    batches, cursor = plan_batches(KafkaCursor({0: 100}), {0: 250}, {0: 260}, 10, 60, now=0.0)
    assert batches == [{0: (100, 250)}, {0: (250, 260)}] and cursor.offsets == {0: 260}


def test_rescore_asks_again_only_after_a_failure_or_a_lost_request() -> None:
    from dagster import DagsterRunStatus

    from sensors.rescore import rescore_decision

    assert rescore_decision(DagsterRunStatus.FAILURE, 100.0, 0.0, now=300.0, grace=120)
    assert not rescore_decision(
        DagsterRunStatus.FAILURE, 250.0, 0.0, now=300.0, grace=120
    )  # retries may come
    assert not rescore_decision(DagsterRunStatus.STARTED, None, 0.0, now=300.0, grace=120)
    assert not rescore_decision(DagsterRunStatus.SUCCESS, 100.0, 0.0, now=300.0, grace=120)
    assert rescore_decision(None, None, first_seen=0.0, now=300.0, grace=120)  # never ran
    assert not rescore_decision(None, None, first_seen=250.0, now=300.0, grace=120)


def test_streamed_tweets_are_prepared_as_training_read_them() -> None:
    from assets.tweets.parsing import stream_record

    schema = RecordSchema(
        key_field="id_str", required=("text",), prepare="assets.tweets.parsing:stream_record"
    )
    full = "A long tweet about transformers " * 5
    raw = {"id": 7, "text": full[:60] + "…", "extended_tweet": {"full_text": full}}
    record, why = parse_message(json.dumps(raw).encode(), schema)
    assert why is None and record["text"] == full and record["id_str"] == "7"
    assert stream_record(raw)["text"] == full
    assert parse_message(json.dumps({"delete": {}}).encode(), schema)[1].startswith("not_a_record")

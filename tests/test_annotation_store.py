"""AnnotationStore round trip on its SQLite default."""

import pytest

from orchestration.settings import Settings
from resources.annotation_store import AnnotationStoreResource


def test_queue_label_undo_round_trip(flywheel_env: Settings) -> None:
    store = AnnotationStoreResource(database_url=flywheel_env.database_url).store()
    samples = [
        {"sample_id": "a", "payload": {"text": "flood in town"}, "score": 0.2, "strategy": "entropy"},
        {"sample_id": "b", "payload": {"text": "need water"}, "score": 0.9, "strategy": "entropy"},
        {"sample_id": "c", "payload": {"text": "hello"}, "score": 0.5, "model_version": 3},
    ]
    assert store.enqueue("disaster", samples) == 3
    assert store.enqueue("disaster", samples[:2]) == 0  # re-queuing the same samples adds nothing
    assert store.enqueue("tweets", samples[:1]) == 1  # queues are per use case

    queue = store.queue("disaster")
    assert [q["sample_id"] for q in queue] == ["b", "c", "a"]  # most uncertain first
    assert queue[0]["payload"] == {"text": "need water"}
    assert queue[1]["model_version"] == "3"

    first = store.add_label("disaster", "b", ["water", "request"], annotator="ana")
    store.add_label("disaster", "c", [], annotator="ana")
    store.skip("disaster", "a")
    assert [q["sample_id"] for q in store.queue("disaster")] == []
    assert store.counts("disaster") == {"queued": 0, "labelled": 2, "skipped": 1, "labels": 2}

    labels = {row["sample_id"]: row for row in store.labels("disaster")}
    assert labels["b"]["label"] == ["water", "request"] and labels["b"]["annotator"] == "ana"
    assert store.last_label_id("disaster") > first
    assert [row["sample_id"] for row in store.labels("disaster", after_id=first)] == ["c"]

    store.undo(first)
    assert [q["sample_id"] for q in store.queue("disaster")] == ["b"]
    assert "b" not in {row["sample_id"] for row in store.labels("disaster")}
    with pytest.raises(KeyError):
        store.undo(first)

    relabel = store.add_label("disaster", "b", ["water"], annotator="bo")
    assert {row["sample_id"]: row["label"] for row in store.labels("disaster")}["b"] == ["water"]
    assert relabel > first

"""AnnotationStore on its SQLite default: round trip, suggestions, opening an older database, and
several writers queueing the same ids at once."""

import multiprocessing
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from orchestration.settings import Settings
from resources.annotation_store import AnnotationStore, AnnotationStoreResource


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


def test_suggestions_are_normalized_and_malformed_ones_refused(flywheel_env: Settings) -> None:
    store = AnnotationStore(flywheel_env.database_url)
    samples = [
        {
            "sample_id": np.int64(1),
            "payload": {"text": "x"},
            "score": np.float32(0.4),
            "model_version": np.int64(5),
            "suggestion": {
                "prediction": np.array(["water", "food"]),
                "probabilities": {"water": np.float32(0.75), "food": np.float64(0.5), "fire": float("nan")},
            },
        },
        {"sample_id": "2", "payload": {}, "score": 0.2, "suggestion": {"prediction": 1}},  # a class id
        {"sample_id": "3", "payload": {}, "score": 0.1, "suggestion": None},
    ]
    assert store.enqueue("disaster", samples) == 3
    queued = {q["sample_id"]: q for q in store.queue("disaster")}
    assert queued["1"]["suggestion"] == {
        "prediction": ["water", "food"],
        "probabilities": {"water": 0.75, "food": 0.5},
    }
    assert queued["1"]["model_version"] == "5"
    assert queued["2"]["suggestion"] == {"prediction": "1", "probabilities": {}}
    assert queued["3"]["suggestion"] is None

    for bad in (
        "water",
        {"probabilities": {"water": 0.5}},
        {"prediction": 0.5},
        {"prediction": ["water", None]},
        {"prediction": "water", "probabilities": [0.5]},
        {"prediction": "water", "probabilities": {"water": "high"}},
    ):
        with pytest.raises(ValueError):
            store.enqueue(
                "disaster",
                [{"sample_id": "ok", "payload": {}, "score": 0.0}, {**samples[2], "suggestion": bad}],
            )
    assert "ok" not in {q["sample_id"] for q in store.queue("disaster")}  # nothing from a bad batch


def test_a_database_from_before_suggestions_opens_and_gains_the_columns(flywheel_env: Settings) -> None:
    """The schema as it was before suggestions: opening it adds the columns and keeps every row."""
    url = flywheel_env.database_url
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE annotation_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, use_case VARCHAR(64)"
                " NOT NULL, sample_id VARCHAR(256) NOT NULL, payload TEXT NOT NULL, score FLOAT NOT NULL,"
                " strategy VARCHAR(32), model_version VARCHAR(32), status VARCHAR(16) NOT NULL,"
                " enqueued_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,"
                " CONSTRAINT uq_queue_sample UNIQUE (use_case, sample_id))"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE annotation_labels (id INTEGER PRIMARY KEY AUTOINCREMENT, use_case VARCHAR(64)"
                " NOT NULL, sample_id VARCHAR(256) NOT NULL, label TEXT NOT NULL, annotator VARCHAR(128)"
                " NOT NULL, source VARCHAR(32) NOT NULL, created_at DATETIME NOT NULL, undone_at DATETIME)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO annotation_queue (use_case, sample_id, payload, score, model_version, status,"
                " enqueued_at, updated_at) VALUES ('tweets', 'old', '{\"text\": \"hi\"}', 0.5, '1',"
                " 'labelled', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO annotation_labels (use_case, sample_id, label, annotator, source, created_at)"
                " VALUES ('tweets', 'old', '\"relevant\"', 'ana', 'page', '2024-01-01 00:00:00')"
            )
        )
    engine.dispose()

    store = AnnotationStore(url)
    AnnotationStore(url)  # opening again finds the columns there and changes nothing
    columns = {
        t: {c["name"] for c in sa.inspect(store.engine).get_columns(t)}
        for t in ("annotation_queue", "annotation_labels")
    }
    assert "suggestion" in columns["annotation_queue"]
    assert {"suggested_by_version", "suggested_label", "accepted_suggestion"} <= columns["annotation_labels"]

    (old,) = store.labelled_samples("tweets")
    assert old["label"] == "relevant" and old["payload"] == {"text": "hi"}
    assert (old["suggested_by_version"], old["accepted_suggestion"]) == (None, None)
    assert store.last_label_id("tweets") == old["id"]

    store.enqueue(
        "tweets",
        [
            {
                "sample_id": "new",
                "payload": {"text": "GPT"},
                "score": 0.9,
                "model_version": "2",
                "suggestion": {"prediction": "relevant", "probabilities": {"relevant": 0.8}},
            }
        ],
    )
    assert store.queue("tweets")[0]["suggestion"]["prediction"] == "relevant"
    store.add_label("tweets", "new", "relevant", annotator="bo")
    labels = {row["sample_id"]: row for row in store.labels("tweets")}
    assert labels["new"]["accepted_suggestion"] is True and labels["new"]["suggested_by_version"] == "2"
    assert store.counts("tweets") == {"queued": 0, "labelled": 2, "skipped": 0, "labels": 2}


WRITERS, SHARED_IDS, OWN_IDS, BATCH = 6, 150, 10, 20


def _batches(writer: int) -> list[list[dict]]:
    """One writer's scoring batches: every shared id (in its own order) plus ids only it queues."""
    ids = [f"shared-{i}" for i in range(SHARED_IDS)] + [f"own-{writer}-{i}" for i in range(OWN_IDS)]
    random.Random(writer).shuffle(ids)
    samples = [{"sample_id": sid, "payload": {"message": sid, "by": writer}, "score": 0.5} for sid in ids]
    return [samples[i : i + BATCH] for i in range(0, len(samples), BATCH)]


def _enqueue_all(database_url: str, writer: int, start) -> int:
    """Open the store (a fresh database: the writers also race to create its tables), wait for the
    others, then queue every batch as a scoring run would; returns how many this writer added."""
    try:
        store = AnnotationStore(database_url)
    except BaseException:
        start.abort()  # the others stop waiting, and this error (not theirs) is the one reported
        raise
    start.wait(timeout=60)
    return sum(store.enqueue("disaster", batch) for batch in _batches(writer))


def _enqueue_in_process(database_url: str, writer: int, start, results) -> None:
    try:
        results.put((writer, _enqueue_all(database_url, writer, start)))
    except BaseException as exc:  # reported to the test rather than lost with the process
        results.put((writer, repr(exc)))


def _assert_queued_once_each(database_url: str, added: list[int]) -> None:
    expected = SHARED_IDS + WRITERS * OWN_IDS
    assert sum(added) == expected  # every id was added by exactly one writer
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT sample_id FROM annotation_queue")).scalars().all()
    engine.dispose()
    assert len(ids) == len(set(ids)) == expected
    store = AnnotationStore(database_url)
    assert store.counts("disaster")["queued"] == expected
    assert store.enqueue("disaster", _batches(0)[0]) == 0  # and once more, later: nothing new


@pytest.mark.parametrize("workers", ["threads", "processes"])
def test_concurrent_enqueues_of_the_same_ids_never_fail_and_add_each_id_once(
    flywheel_env: Settings, workers: str
) -> None:
    """Writers queueing overlapping ids at the same moment against one SQLite file, as two scoring
    runs of one use case do: none fails on the unique (use_case, sample_id) constraint, each id is
    queued once, and the counts they return add up to the ids queued."""
    url = flywheel_env.database_url
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if workers == "threads":
        start = threading.Barrier(WRITERS)
        with ThreadPoolExecutor(WRITERS) as pool:
            futures = [pool.submit(_enqueue_all, url, w, start) for w in range(WRITERS)]
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        causes = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
        if errors:
            raise (causes or errors)[0]  # the writer that failed, not the ones it left waiting
        added = [f.result() for f in futures]
    else:
        context = multiprocessing.get_context("fork")  # the children inherit the imports: no re-import
        start, results = context.Barrier(WRITERS), context.Queue()
        processes = [
            context.Process(target=_enqueue_in_process, args=(url, w, start, results)) for w in range(WRITERS)
        ]
        for process in processes:
            process.start()
        outcome = dict(results.get(timeout=120) for _ in processes)
        for process in processes:
            process.join(timeout=30)
        assert all(isinstance(v, int) for v in outcome.values()), outcome
        added = list(outcome.values())
    _assert_queued_once_each(url, added)


def test_undo_restores_the_label_it_replaced(flywheel_env: Settings) -> None:
    """Store level: label A, relabel B, undo B gives A back (the sample stays labelled); undoing A
    then queues the sample again. Every reader follows the same rule."""
    store = AnnotationStore(flywheel_env.database_url)
    store.enqueue("tweets", [{"sample_id": "x", "payload": {"text": "GPT-5"}, "score": 0.7}])
    a = store.add_label("tweets", "x", "1", annotator="ana")
    b = store.add_label("tweets", "x", "0", annotator="bo")
    assert store.active_label("tweets", "x")["id"] == b

    undone = store.undo(b)
    assert (undone["id"], undone["label"], undone["sample_status"]) == (b, "0", "labelled")
    assert undone["undone_at"] is not None and undone["active_label"]["id"] == a
    assert [(r["id"], r["label"]) for r in store.labels("tweets")] == [(a, "1")]
    assert [(r["id"], r["payload"]) for r in store.labelled_samples("tweets")] == [(a, {"text": "GPT-5"})]
    assert store.queue("tweets") == [] and store.counts("tweets")["labelled"] == 1
    with pytest.raises(KeyError):
        store.undo(a, use_case="disaster")  # another use case's label id is not this one's to undo

    again = store.undo(a)
    assert (again["sample_status"], again["active_label"]) == ("queued", None)
    assert store.labels("tweets") == [] and store.labelled_samples("tweets") == []
    assert [q["sample_id"] for q in store.queue("tweets")] == ["x"]
    assert store.counts("tweets") == {"queued": 1, "labelled": 0, "skipped": 0, "labels": 0}

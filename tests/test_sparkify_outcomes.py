"""Counting resolved outcomes for the retrain sensor when the events table knows none of the scored
users (issue 22, item 3): an empty max is NaN, and ``int(nan or 0)`` raised instead of counting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from assets.loop.scoring import write_partition
from assets.sparkify.events import FIELDS
from assets.sparkify.model import events_table_path
from assets.sparkify.stream import resolved_outcomes

DAY_MS = 86_400_000


def _event(user: str, ts: int, page: str = "NextSong") -> dict:
    event = dict.fromkeys(FIELDS)
    return {**event, "userId": user, "ts": ts, "page": page, "sessionId": 1, "itemInSession": 0}


def test_outcomes_count_when_no_scored_user_is_in_the_events_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    table = events_table_path()
    table.mkdir(parents=True)
    pd.DataFrame([_event("landed-only", 1_000)]).to_parquet(table / "part-0.parquet", index=False)
    start = 1_600_000_000_000
    records = [
        _event("a", start),
        _event("b", start, "Cancellation Confirmation"),
        _event("c", start + 31 * DAY_MS),  # the stream's clock: a's horizon has passed
    ]
    frame = pd.DataFrame({"key": ["k0", "k1", "k2"], "record": [json.dumps(r) for r in records]})
    write_partition(frame, "sparkify", "predictions", "0_0-3")
    # a: horizon passed; b: cancelled; c: scored just now, unresolved.
    assert resolved_outcomes(30) == 2


def test_the_stream_state_folds_each_partition_once_and_follows_reruns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each predictions file is folded once; a re-run batch that rewrote its file is folded again
    (its users' outcomes rebuilt), a removed one leaves; history is read per user."""
    from assets.sparkify.stream import streamed_history
    from assets.sparkify.stream_state import fold

    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    start = 1_600_000_000_000

    def batch(slot: str, events: list[dict]) -> None:
        frame = pd.DataFrame(
            {"key": [f"k{i}" for i in range(len(events))], "record": [json.dumps(e) for e in events]}
        )
        write_partition(frame, "sparkify", "predictions", slot)

    batch("0_0-2", [_event("a", start), _event("b", start + DAY_MS)])
    assert fold() == 1 and fold() == 0  # nothing new: nothing read
    batch("0_2-3", [_event("c", start + 30 * DAY_MS + DAY_MS // 2)])
    assert fold() == 1 and resolved_outcomes(30) == 1  # a's horizon passed
    batch("0_0-2", [_event("a", start), _event("b", start + DAY_MS, "Cancellation Confirmation")])  # a re-run
    assert resolved_outcomes(30) == 2 and fold() == 0
    history = streamed_history(["b", "nobody"])
    assert history["userId"].tolist() == ["b"] and history["page"].tolist() == ["Cancellation Confirmation"]
    for path in (tmp_path / "tables" / "sparkify" / "predictions").glob("batch=0_0-2/*.parquet"):
        path.unlink()
    assert resolved_outcomes(30) == 0 and streamed_history(["a", "b"]).empty


def test_a_sparkify_holdout_freezes_the_events_it_is_scored_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22, item 4: each held-out user's events before their last cutoff are frozen with the
    holdout version; events that land later are not among them."""
    from assets.sparkify.model import frozen_history

    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    table = events_table_path()
    table.mkdir(parents=True)
    events = [
        _event("a", 50),
        _event("a", 150),
        _event("a", 250),
        _event("b", 50),
        _event("b", 160),
        _event("c", 10),
    ]
    pd.DataFrame(events).to_parquet(table / "part-0.parquet", index=False)
    rows = pd.DataFrame({"userId": ["a", "a", "b"], "cutoff": [100, 200, 150]})
    frozen = frozen_history(rows)
    assert sorted(zip(frozen["userId"], frozen["ts"], strict=True)) == [("a", 50), ("a", 150), ("b", 50)]


def test_resolved_outcomes_measure_each_versions_live_pr_auc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every resolved user labels the prediction made at their first scored event; the live PR AUC
    of each version is the one scikit-learn computes on those (unresolved users left out)."""
    from sklearn.metrics import average_precision_score

    from assets.monitoring.live_quality import MetricSpace, live_quality
    from assets.sparkify.model import churn_metrics
    from assets.sparkify.stream import outcome_labels

    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    start = 1_600_000_000_000
    # user -> (first event's churn probability, version, a later event's page or None)
    users = {
        "a": (0.9, "1", "Cancellation Confirmation"),
        "b": (0.2, "1", None),
        "c": (0.6, "1", None),
        "d": (0.7, "1", "Cancellation Confirmation"),
        "e": (0.4, "2", "Cancellation Confirmation"),
        "f": (0.1, "2", None),
        "g": (0.8, "2", None),
    }
    rows = []
    for i, (user, (p, version, later)) in enumerate(users.items()):
        rows.append((user, start + i, p, version, "NextSong"))
        if later:
            rows.append((user, start + DAY_MS, 0.99, version, later))  # a later score never counts
    rows.append(("late", start + 31 * DAY_MS, 0.5, "2", "NextSong"))  # the clock; unresolved itself
    frame = pd.DataFrame(
        {
            "key": [f"k{i}" for i in range(len(rows))],
            "model_version": [r[3] for r in rows],
            "proba__churn": [r[2] for r in rows],
            "proba__stay": [1 - r[2] for r in rows],
            "prediction": ["churn" if r[2] >= 0.5 else "stay" for r in rows],
            "scored_at": [1_700_000_000.0 + i for i in range(len(rows))],
            "record": [json.dumps(_event(r[0], r[1], r[4])) for r in rows],
        }
    )
    write_partition(frame, "sparkify", "predictions", "0_0-20")
    labels = outcome_labels(30)
    assert sorted(row["sample_id"] for row in labels) == [f"user:{u}" for u in sorted(users)]
    assert all(row["strategy"] == "outcome" for row in labels)
    space = MetricSpace("multiclass", ("churn", "stay"), "pr_auc", churn_metrics, "churn")
    quality = {q["version"]: q for q in live_quality(labels, space, {"1": 0.5, "2": 0.5})}
    for version in ("1", "2"):
        mine = [u for u, (_p, v, _later) in users.items() if v == version]
        truth = [int(users[u][2] is not None) for u in mine]
        expected = average_precision_score(truth, [users[u][0] for u in mine])
        assert quality[version]["labels"] == len(mine)
        assert abs(quality[version]["metric"] - expected) < 1e-9

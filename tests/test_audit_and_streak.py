"""The audit share of the annotation budget and the drift streak the retrain sensor acts on."""

from __future__ import annotations

import numpy as np

from assets.loop.uncertainty import audit_count, audit_indices, random_scores, select
from sensors.retrain import drift_streak


def test_audit_picks_are_uniform_over_the_records_the_strategy_left() -> None:
    scores = np.linspace(0, 1, 1000)
    chosen = select(scores, 18)
    picks = audit_indices(1000, chosen, audit_count(20, 0.1), "0:0-1000")
    assert len(picks) == 2 and not set(picks) & set(chosen)
    # The same batch key picks the same records (a re-run queues nothing new); another key differs.
    assert list(audit_indices(1000, chosen, 2, "0:0-1000")) == list(picks)
    # Uniform: over many batches every non-chosen record is drawn about equally often, the most
    # confident ones included (uncertainty picks never reach them).
    counts = np.zeros(1000)
    for batch in range(3000):
        counts[audit_indices(1000, chosen, 5, f"b{batch}")] += 1
    assert counts[chosen].sum() == 0
    rest = np.delete(counts, chosen)
    expected = 3000 * 5 / len(rest)
    assert (
        abs(rest[:100].mean() - expected) < 0.2 * expected
        and abs(rest[-100:].mean() - expected) < 0.2 * expected
    )


def test_audit_count_keeps_a_share_and_at_least_one() -> None:
    assert audit_count(20, 0.1) == 2 and audit_count(5, 0.1) == 1 and audit_count(20, 0.0) == 0
    assert audit_count(20, 1.0) == 20 and audit_count(0, 0.5) == 0


def test_random_scores_are_fixed_by_the_batch() -> None:
    first = random_scores(50, "k")
    assert np.array_equal(first, random_scores(50, "k")) and not np.array_equal(first, random_scores(50, "j"))
    assert ((first >= 0) & (first < 1)).all()


def test_a_drift_streak_names_its_first_batch_once_long_enough() -> None:
    newest_first = [("p5", True), ("p4", True), ("p3", True), ("p2", False), ("p1", True)]
    assert drift_streak(newest_first, 3) == "p3"
    assert drift_streak(newest_first[1:], 3) is None  # p4, p3 then a clean batch: two in a row
    # The streak goes on: same first batch, so the same run key (one retraining per streak).
    assert drift_streak([("p6", True), *newest_first], 3) == "p3"
    assert drift_streak([("p7", False), ("p6", True), *newest_first], 3) is None
    assert drift_streak(newest_first, 0) is None

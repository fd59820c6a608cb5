"""The label-free ensemble (issue 21): causal on a NAB series and a sewer series, comparable across
series, the cold start of every flow champion, and the transfer half of the gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.flow import model as M
from assets.flow.detectors import (
    DETECTORS,
    DetectorConfig,
    anomaly_probability,
    ensemble_z,
    quiet_after_alarm,
)
from assets.flow.generator import as_labelled_frame, generate_series
from assets.lifecycle.gate import decide

DATA = Path(__file__).resolve().parents[1] / "data" / "flow"


def _nab_series() -> pd.DataFrame:
    """A NAB traffic series (vendored byte for byte from NAB's development half)."""
    frame = pd.read_csv(DATA / "transfer" / "data" / "realTraffic" / "occupancy_t4013.csv")
    return pd.DataFrame({"series": "occupancy", "time": frame["timestamp"], "value": frame["value"]})


def _sewer_series() -> pd.DataFrame:
    """The real sewer series with QA labels (``test60k``), as readings of the topic."""
    frame = pd.read_csv(DATA / "test60k-sample.csv")
    return pd.DataFrame({"series": "sewer", "time": frame["time"], "value": frame["raw"]})


@pytest.fixture(scope="module")
def ensemble() -> M.FlowModel:
    return M.train_ensemble(pd.DataFrame(), M.LABELS, 0)


@pytest.mark.parametrize("records", [_nab_series(), _sewer_series()], ids=["nab", "sewer"])
def test_scores_of_the_first_readings_never_change_when_later_ones_arrive(ensemble, records) -> None:
    full = ensemble.predict(None, records)
    assert full["prediction"].eq("anomaly").any()  # the test is not about a detector that never fires
    for k in (1, 30, 700, len(records) // 2, len(records) - 1):
        cut = ensemble.predict(None, records.iloc[:k])
        pd.testing.assert_frame_equal(cut, full.iloc[:k].reset_index(drop=True))


def test_one_threshold_means_the_same_on_every_series(ensemble) -> None:
    """``anomaly`` depends on the series' own tail only: other units and level score the same, and
    0.5 is the threshold on every series."""
    records = _nab_series()
    base = ensemble.predict(None, records)
    moved = ensemble.predict(None, records.assign(value=records["value"] * 250.0 + 1e4, series="elsewhere"))
    np.testing.assert_allclose(moved["anomaly"], base["anomaly"], atol=1e-6)
    assert ((base["anomaly"] > 0.5) == (base["prediction"] == "anomaly")).all()
    z = np.array([0.0, 3.0, 7.0, 12.0])
    p = anomaly_probability(z, 7.0)
    assert p[0] == 0.0 and p[2] == pytest.approx(0.5) and np.all(np.diff(p) > 0) and p[-1] < 1.0


def test_an_alarm_keeps_the_rest_of_its_event_quiet_but_not_a_larger_one() -> None:
    score = np.array([0.0, 9.0, 8.0, 8.5, 12.0, 1.0, 0.0, 0.0, 6.0])
    assert quiet_after_alarm(score, 3).tolist() == [0.0, 9.0, 0.0, 0.0, 12.0, 0.0, 0.0, 0.0, 6.0]


def test_each_detector_finds_its_kind_of_anomaly() -> None:
    """A spike (gaussian), a missing daily peak (seasonal) and a small sustained shift (level)."""
    rng = np.random.default_rng(0)
    t = pd.date_range("2024-01-01", periods=288 * 10, freq="5min")
    daily = 10 + 5 * np.sin(2 * np.pi * np.arange(len(t)) / 288)
    config = DetectorConfig()

    def strongest(x: np.ndarray, only: str) -> int:
        """The reading the detector finds most anomalous after its first day of history."""
        z = ensemble_z(np.zeros(len(x), dtype=np.int64), t.asi8, x, config, only)
        return 288 + int(np.argmax(z[288:]))

    spike = 10 + rng.normal(0, 1.0, len(t))
    spike[2000] += 8
    assert strongest(spike, "gaussian") == 2000
    no_peak = daily + rng.normal(0, 0.05, len(t))
    peak = slice(288 * 8 + 50, 288 * 8 + 90)
    no_peak[peak] = 10.0  # the day's peak does not come; the values stay inside the usual range
    assert peak.start <= strongest(no_peak, "seasonal") < peak.stop
    shifted = 10 + rng.normal(0, 1.0, len(t))
    shifted[2500:] += 1.5  # within the noise reading by reading; clear over a dozen readings
    level = ensemble_z(np.zeros(len(t), dtype=np.int64), t.asi8, shifted, config, "level")
    gaussian = ensemble_z(np.zeros(len(t), dtype=np.int64), t.asi8, shifted, config, "gaussian")
    assert 2500 <= 288 + int(np.flatnonzero(level[288:] >= 5.0)[0]) < 2520
    assert gaussian[2500:2520].max() < 5.0  # no single reading of the shift stands out
    assert set(DETECTORS) == {"gaussian", "seasonal", "level"}


def test_the_champion_scores_a_series_it_never_trained_on_with_the_ensemble(ensemble) -> None:
    """Cold start: a sewer-trained model answers for a new meter exactly as the ensemble does, and
    keeps its supervised scorer for the series it has labels for."""
    train = as_labelled_frame(generate_series(3, 6, seed=5))
    gbm = M.train_gbm(train, M.LABELS, 0, max_iter=30)
    assert gbm.supervised_series == frozenset(train["series"].unique())
    new = _nab_series().iloc[:1500]
    pd.testing.assert_frame_equal(gbm.predict(None, new), ensemble.predict(None, new))
    known = train[train["series"] == train["series"].iloc[0]][["series", "time", "value"]]
    assert not np.allclose(gbm.predict(None, known)["anomaly"], ensemble.predict(None, known)["anomaly"])
    # Both kinds in one batch: each row answered as it would be alone.
    mixed = pd.concat([known, new], ignore_index=True)
    together = gbm.predict(None, mixed)
    np.testing.assert_allclose(together["anomaly"].iloc[len(known) :], ensemble.predict(None, new)["anomaly"])


def test_the_gate_refuses_a_challenger_that_transfers_worse() -> None:
    """The transfer score is guarded like the primary metric, and has a floor of its own."""
    champion = {"f1_anomaly": 0.45, "transfer_nab_standard": 63.0}

    def gate(f1: float | None, nab: float | None, against: dict | None = champion) -> str:
        challenger = {
            k: v for k, v in {"f1_anomaly": f1, "transfer_nab_standard": nab}.items() if v is not None
        }
        thresholds = {"f1_anomaly": 0.3, "transfer_nab_standard": 40.0}
        decision = decide(
            challenger, against, "f1_anomaly", thresholds, 0.02, guarded={"transfer_nab_standard": 2.0}
        )
        return decision.summary()

    assert gate(0.50, 55.0).startswith(
        "FAIL"
    ) and "transfer_nab_standard regresses 63.0000 -> 55.0000" in gate(0.50, 55.0)
    assert gate(0.40, 64.0).startswith("FAIL") and "f1_anomaly regresses" in gate(0.40, 64.0)
    assert gate(0.45, 62.0).startswith("PASS")  # within both tolerances
    first = gate(0.45, 30.0, None)
    assert first.startswith("FAIL") and "transfer_nab_standard=30.0000 misses threshold 40.0000" in first
    assert gate(0.45, None).startswith("FAIL") and "transfer_nab_standard missing" in gate(0.45, None)


def test_a_series_earns_the_supervised_model_with_enough_labels() -> None:
    """Labelled readings (``scored``) decide: a series with 50 of them, 3 anomalies among them, is
    trusted; one with fewer labels, or none anomalous, stays on the ensemble."""
    t = pd.date_range("2024-01-01", periods=400, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    rng = np.random.default_rng(1)

    def series(name: str, labelled: int, anomalies: int) -> pd.DataFrame:
        label = np.array(["normal"] * len(t), dtype=object)
        label[:anomalies] = "anomaly"
        scored = np.arange(len(t)) < labelled
        return pd.DataFrame(
            {"series": name, "time": t, "value": rng.normal(10, 1, len(t)), "label": label, "scored": scored}
        )

    frame = pd.concat(
        [series("annotated", 50, 3), series("few", 49, 3), series("calm", 400, 0)], ignore_index=True
    )
    assert M.trusted_series(M.training_data(frame)) == frozenset({"annotated"})

"""Window features: fixed columns, row-local (chunking changes nothing), NaN-safe, physically sensible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.activity.features import FEATURE_NAMES, window_features
from assets.activity.layouts import LABEL_COLUMN, WINDOW_SIGNALS, WINDOW_STEPS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "casas_arwise"


@pytest.fixture(scope="module")
def windows() -> pd.DataFrame:
    return pd.read_csv(DATA / "p1_windows_train.csv")


def test_columns_are_fixed_and_deterministic(windows: pd.DataFrame) -> None:
    first = window_features(windows)
    assert list(first.columns) == list(FEATURE_NAMES)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert first.index.equals(windows.index)
    shuffled = windows[windows.columns[::-1]]  # input column order does not matter
    pd.testing.assert_frame_equal(window_features(shuffled), first)
    pd.testing.assert_frame_equal(window_features(windows.drop(columns=[LABEL_COLUMN])), first)
    assert first.notna().all().all()


def test_chunks_give_the_same_rows_as_the_whole(windows: pd.DataFrame) -> None:
    whole = window_features(windows)
    chunks = pd.concat([window_features(windows.iloc[i : i + 15]) for i in range(0, len(windows), 15)])
    pd.testing.assert_frame_equal(chunks, whole)
    single = window_features(windows.iloc[[41]])
    pd.testing.assert_frame_equal(single, whole.iloc[[41]])


def test_records_as_they_arrive_on_the_topic(windows: pd.DataFrame) -> None:
    """JSON records: numbers as strings, no location columns, missing values and junk."""
    records = windows.drop(columns=[LABEL_COLUMN]).head(3)
    records = records[[c for c in records.columns if not c.startswith(("distance", "bearing"))]]
    as_text = records.astype(str)
    pd.testing.assert_frame_equal(window_features(as_text), window_features(windows.head(3)))

    broken = as_text.copy()
    broken.loc[broken.index[0], [c for c in broken.columns if c != "stamp"]] = None  # no signal at all
    broken.loc[broken.index[1], "user_acceleration_x_5"] = "not a number"
    broken.loc[broken.index[2], "stamp"] = "garbage"
    result = window_features(broken)
    assert result.iloc[0].drop(["time_of_day_sin", "time_of_day_cos"]).isna().all()
    assert result.iloc[1][[c for c in FEATURE_NAMES if not c.startswith("time")]].notna().sum() > 100
    assert np.isnan(result.iloc[2]["time_of_day_sin"])


def test_features_measure_what_they_say() -> None:
    steps = np.arange(WINDOW_STEPS)
    row = {"stamp": "2024-01-12 06:00:00.000000"}
    for signal in WINDOW_SIGNALS:
        for i in steps:
            row[f"{signal}_{i + 1}"] = 0.0
    for i in steps:  # 2 Hz sine on acceleration x, constant 0.5 on rotation z
        row[f"user_acceleration_x_{i + 1}"] = np.sin(2 * np.pi * 2.0 * i / 10.0)
        row[f"rotation_rate_z_{i + 1}"] = 0.5
    features = window_features(pd.DataFrame([row])).iloc[0]
    assert features["user_acceleration_x_dominant_frequency"] == pytest.approx(2.0)
    assert features["user_acceleration_x_std"] == pytest.approx(np.sqrt(0.5))
    assert features["user_acceleration_x_spectral_entropy"] == pytest.approx(0.0, abs=1e-9)
    assert features["rotation_rate_z_std"] == 0.0 and features["rotation_rate_z_spectral_energy"] == 0.0
    assert features["rotation_magnitude_mean"] == pytest.approx(0.5)
    assert features["time_of_day_sin"] == pytest.approx(1.0)  # 06:00 is a quarter of the day
    assert np.isnan(features["rotation_corr_xy"])  # constant axes have no correlation

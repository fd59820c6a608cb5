"""Generated windows keep the real per-class statistics (two-sample KS per feature), and generated raw
participant files are layout (a) and clean without a single quarantined row."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from assets.activity.cleaning import build_windows, clean_raw
from assets.activity.features import FEATURE_NAMES, window_features
from assets.activity.generator import (
    WindowStats,
    fit_window_stats,
    generate_windows,
    sample_per_class,
    write_raw_files,
)
from assets.activity.layouts import LABEL_COLUMN, WINDOW_COLUMNS, detect_layout
from assets.activity.quality import window_checks
from assets.quality.gx_runner import validate
from resources.spark import SparkResource

# Python workers (mapInPandas, foreach) must run this interpreter, not whatever python3 is on PATH.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "casas_arwise"
GENERATED = 2000


@pytest.fixture(scope="module")
def spark():
    return SparkResource(master="local[2]").spark_session


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return pd.read_csv(DATA / "p1_windows_train.csv")


@pytest.fixture(scope="module")
def stats(real: pd.DataFrame) -> WindowStats:
    return fit_window_stats(real)


@pytest.fixture(scope="module")
def generated(spark, stats: WindowStats) -> pd.DataFrame:
    return generate_windows(spark, stats, GENERATED, partitions=2, seed=7).toPandas()


def test_generated_windows_have_layout_b(generated: pd.DataFrame, stats: WindowStats) -> None:
    assert list(generated.columns) == list(WINDOW_COLUMNS)
    assert len(generated) == GENERATED and generated["stamp"].is_unique
    signals = generated[[c for c in WINDOW_COLUMNS[1:-1] if not c.startswith(("distance", "bearing"))]]
    assert signals.notna().all().all()
    assert set(generated[LABEL_COLUMN]) <= set(stats.classes)


def test_class_balance_follows_the_real_data(generated: pd.DataFrame, real: pd.DataFrame) -> None:
    real_share = real[LABEL_COLUMN].value_counts(normalize=True)
    generated_share = (
        generated[LABEL_COLUMN].value_counts(normalize=True).reindex(real_share.index, fill_value=0)
    )
    # Multinomial sampling: 4 standard errors of the largest share (23 %) at 2,000 windows is 0.038.
    assert (generated_share - real_share).abs().max() < 0.04


def test_features_match_the_real_distribution(generated: pd.DataFrame, real: pd.DataFrame) -> None:
    """Two-sample KS per feature between real and generated windows (time of day excluded: generated
    stamps are synthetic). The bound for the median feature is the KS critical value at alpha = 0.001
    for these sample sizes, i.e. the typical feature is statistically indistinguishable from the real
    one; the worst feature may differ more (0.45 still means heavily overlapping distributions: the
    model is a few per-class moments, not a copy of the data)."""
    real_features, generated_features = window_features(real), window_features(generated)
    names = [n for n in FEATURE_NAMES if not n.startswith("time_of_day")]
    ks = pd.Series({n: ks_2samp(real_features[n], generated_features[n]).statistic for n in names})
    n, m = len(real), len(generated)
    critical = np.sqrt(-np.log(0.001 / 2) / 2) * np.sqrt((n + m) / (n * m))
    print(
        f"\nKS over {len(ks)} features: median {ks.median():.3f} (bound {critical:.3f}), "
        f"mean {ks.mean():.3f}, 90th percentile {ks.quantile(0.9):.3f}, max {ks.max():.3f} ({ks.idxmax()})"
    )
    assert ks.median() < critical
    assert ks.max() < 0.45


def test_generation_is_reproducible(spark, stats: WindowStats) -> None:
    first = generate_windows(spark, stats, 50, partitions=2, seed=3).toPandas()
    again = generate_windows(spark, stats, 50, partitions=2, seed=3).toPandas()
    other = generate_windows(spark, stats, 50, partitions=2, seed=4).toPandas()
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_sample_per_class_caps_every_class(spark, stats: WindowStats) -> None:
    sample = sample_per_class(generate_windows(spark, stats, 300, partitions=2, seed=1), 5, seed=2)
    counts = sample[LABEL_COLUMN].value_counts()
    assert counts.max() <= 5 and set(counts.index) == set(stats.classes)
    refitted = fit_window_stats(sample)  # what the wiring does with a sample of big clean data
    assert refitted.classes == stats.classes


def test_raw_files_are_layout_a_and_clean(spark, stats: WindowStats, tmp_path: Path) -> None:
    paths = write_raw_files(spark, 2, 0.1, tmp_path / "spark", seed=5, stats=stats)
    local = write_raw_files(None, 1, 0.05, tmp_path / "local", seed=5, stats=stats)
    assert paths[0].read_text().startswith(local[0].read_text())  # same rows with or without Spark

    for path in paths:
        lines = path.read_text().splitlines()
        assert detect_layout(lines[:2]) == "raw"
        assert len(lines) == 2 + 3600
        labelled = [i for i, line in enumerate(lines[2:]) if not line.endswith(",")]
        assert labelled and all(
            b - a > 1 for a, b in zip(labelled, labelled[1:], strict=False)
        )  # one row each

    result = clean_raw(spark, [str(p) for p in paths])
    assert result.counts["rows_in"] == result.counts["rows_kept"] == 7200
    assert result.counts["rows_quarantined"] == 0
    windows = build_windows(result.kept).toPandas()
    assert 0 < len(windows) <= 72 and windows[LABEL_COLUMN].notna().any()
    assert set(windows[LABEL_COLUMN].dropna()) <= set(stats.classes)


def test_generated_windows_pass_the_checks_real_windows_pass(
    generated: pd.DataFrame, real: pd.DataFrame
) -> None:
    """The same GX expectations as the ``activity_windows`` asset checks, on real and generated windows."""
    for name, frame in (("real", real), ("generated", generated)):
        frame = frame.assign(participant=name)
        for check in window_checks():
            outcomes = validate(check.prepare(frame), check.expectations(frame), name=f"{name}_{check.name}")
            failed = [(o.expectation, o.column, o.sample[:3]) for o in outcomes if not o.success]
            assert not failed, f"{name} windows fail {check.name}: {failed}"
    broken = generated.assign(participant="broken")
    broken.loc[broken.index[0], "user_acceleration_x_5"] = 40.0  # 40 g: a unit error
    [ranges] = [c for c in window_checks() if c.name == "activity_sensor_ranges"]
    outcomes = validate(ranges.prepare(broken), ranges.expectations(broken), name="broken_ranges")
    assert [o.unexpected_count for o in outcomes] == [1, 0]

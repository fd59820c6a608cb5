"""Per-window features from layout-(b) rows, shared by training, serving and Spark.

The same function runs inside the served pyfunc (records straight off ``activity.records``), in the
trainers, and in Spark through ``mapInPandas``; every feature depends on its own row only, so any
chunking of the rows gives the same values. Records are taken as they arrive: values may be strings,
``None`` or missing columns (location is often absent), so everything is coerced to float and every
statistic ignores NaN; a window without any valid value for a signal gets NaN features, not an error.

Features, per series (the six signals, then the acceleration and rotation magnitudes, which do not
depend on the watch's orientation on the wrist): mean, standard deviation, min, max, the 10/25/50/75/90th
percentiles, mean absolute step-to-step change (jerkiness), and from the FFT of the de-meaned series
the spectral energy (mean power), dominant frequency (Hz) and normalised spectral entropy (periodic
walking versus irregular hand movement). Then the correlations between the three axes of each sensor,
and the time of day as sine/cosine of ``stamp`` (activities such as meals follow the clock).
Location is not used: ``distance_from_home`` is relative to one participant's home and is empty for
most windows, so it would teach the model who, not what.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from assets.activity.layouts import SAMPLE_RATE_HZ, WINDOW_SIGNALS, WINDOW_STEPS

_SERIES = (*WINDOW_SIGNALS, "acceleration_magnitude", "rotation_magnitude")
_PERCENTILES = (10, 25, 50, 75, 90)
_STATS = (
    "mean",
    "std",
    "min",
    "max",
    *(f"p{p}" for p in _PERCENTILES),
    "mean_abs_diff",
    "spectral_energy",
    "dominant_frequency",
    "spectral_entropy",
)
_AXIS_PAIRS = ((0, 1), (0, 2), (1, 2))
_CORRELATIONS = tuple(
    f"{sensor}_corr_{'xyz'[a]}{'xyz'[b]}" for sensor in ("acceleration", "rotation") for a, b in _AXIS_PAIRS
)
#: Output columns, in order.
FEATURE_NAMES: tuple[str, ...] = (
    *(f"{series}_{stat}" for series in _SERIES for stat in _STATS),
    *_CORRELATIONS,
    "time_of_day_sin",
    "time_of_day_cos",
)


def _signals(windows: pd.DataFrame) -> np.ndarray:
    """(windows, 6 signals, steps) as float, NaN where a value is missing or not a number."""
    columns = [f"{signal}_{step}" for signal in WINDOW_SIGNALS for step in range(1, WINDOW_STEPS + 1)]
    values = windows.reindex(columns=columns)
    if not all(pd.api.types.is_float_dtype(t) for t in values.dtypes):
        values = values.apply(pd.to_numeric, errors="coerce")
    return values.to_numpy(dtype=float).reshape(len(windows), len(WINDOW_SIGNALS), WINDOW_STEPS)


def _spectral(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(energy, dominant frequency, normalised entropy) of the de-meaned series, over the last axis.

    Missing steps are filled with the series mean, i.e. they contribute no power.
    """
    centred = np.nan_to_num(series - np.nanmean(series, axis=-1, keepdims=True), nan=0.0)
    power = np.abs(np.fft.rfft(centred, axis=-1))[..., 1:] ** 2 / WINDOW_STEPS**2
    total = power.sum(axis=-1)
    frequencies = np.fft.rfftfreq(WINDOW_STEPS, d=1 / SAMPLE_RATE_HZ)[1:]
    share = power / np.where(total > 0, total, 1.0)[..., None]
    entropy = -(share * np.log(np.where(share > 0, share, 1.0))).sum(axis=-1) / np.log(share.shape[-1])
    dominant = np.where(total > 0, frequencies[power.argmax(axis=-1)], 0.0)
    empty = np.isnan(series).all(axis=-1)
    return np.where(empty, np.nan, total), np.where(empty, np.nan, dominant), np.where(empty, np.nan, entropy)


def _correlations(axes: np.ndarray) -> list[np.ndarray]:
    """Pearson correlation of each pair of axes over the steps where both are present; NaN if constant."""
    result = []
    for a, b in _AXIS_PAIRS:
        x, y = axes[:, a], axes[:, b]
        both = ~(np.isnan(x) | np.isnan(y))
        x = np.where(both, x - np.nanmean(np.where(both, x, np.nan), axis=1, keepdims=True), 0.0)
        y = np.where(both, y - np.nanmean(np.where(both, y, np.nan), axis=1, keepdims=True), 0.0)
        denominator = np.sqrt((x**2).sum(axis=1) * (y**2).sum(axis=1))
        result.append(
            np.where(denominator > 0, (x * y).sum(axis=1) / np.where(denominator > 0, denominator, 1), np.nan)
        )
    return result


def _time_of_day(windows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    if "stamp" not in windows:
        return np.full(len(windows), np.nan), np.full(len(windows), np.nan)
    stamp = pd.to_datetime(windows["stamp"], errors="coerce", format="mixed")
    seconds = (stamp.dt.hour * 3600 + stamp.dt.minute * 60 + stamp.dt.second).to_numpy(dtype=float)
    angle = 2 * np.pi * seconds / 86_400
    return np.sin(angle), np.cos(angle)


def window_features(windows: pd.DataFrame) -> pd.DataFrame:
    """One row of :data:`FEATURE_NAMES` per input row, same index; other input columns are ignored."""
    signals = _signals(windows)
    magnitudes = np.sqrt(
        np.stack([(signals[:, 0:3] ** 2).sum(axis=1), (signals[:, 3:6] ** 2).sum(axis=1)], axis=1)
    )  # NaN if any axis is missing at that step
    series = np.concatenate([signals, magnitudes], axis=1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: NaN features by design
        stats = [
            np.nanmean(series, axis=-1),
            np.nanstd(series, axis=-1),
            np.nanmin(series, axis=-1),
            np.nanmax(series, axis=-1),
            *np.nanpercentile(series, _PERCENTILES, axis=-1),
            np.nanmean(np.abs(np.diff(series, axis=-1)), axis=-1),
            *_spectral(series),
        ]
        correlations = _correlations(signals[:, 0:3]) + _correlations(signals[:, 3:6])
    per_series = np.stack(stats, axis=-1).reshape(len(windows), -1)  # series-major, like FEATURE_NAMES
    values = np.column_stack([per_series, *correlations, *_time_of_day(windows)])
    return pd.DataFrame(values, columns=list(FEATURE_NAMES), index=windows.index)

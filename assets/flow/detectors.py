"""Unsupervised, causal anomaly detectors for any monitoring series (pure numpy/pandas/scipy).

Why: a champion trained on sewer labels learned what sewer anomalies look like and nothing else
(NAB standard score 0.0 on series it never saw, issue 21). These detectors need no labels: each
scores a reading against the readings *before* it in its own series, so a new meter is scored from
its first readings and in its own units.

- ``gaussian``: the reading's z against the mean and standard deviation of the previous ``window``
  readings (a rolling Gaussian tail).
- ``seasonal``: a seasonal forecast residual. The forecast is the median of the readings one, two and
  three days earlier (found by time, so irregular cadences work), shifted by how far the recent level
  moved since then; the residual is standardised by the spread of earlier residuals. Series too short
  or without a daily cadence give 0.
- ``level``: a level-shift (change) test: the mean of the last ``level_span`` readings against the
  mean and spread of the readings before them, the windowed likelihood-ratio test that CUSUM
  approximates for a shift in mean.

Each detector gives a z; its two-sided Gaussian tail probability is the same tail probability in
every series, so one threshold works on all of them (NAB applies one threshold to a whole corpus).
The ensemble takes the largest weighted z (the seasonal and level statistics are heavier-tailed than
a Gaussian, so their z is tempered), and an alarm keeps lesser alarms of the next ``quiet`` readings
quiet: a monitoring user is told once per event, and a reading that is more extreme than the alarm
raises a new one.

Libraries: pandas' rolling windows (C loops) and scipy's ``log_ndtr`` tail. statsmodels' state-space
forecasters and river's online detectors were weighed and not used: neither is installed (statsmodels
would add a dependency that pulls patsy; river's per-reading Python loop runs at tens of thousands of
readings a second, far below the champion's vectorised scoring), and a refit per reading is what a
causal forecaster would need. CUSUM's own recursion is a running minimum of a cumulative sum, but on
these series it stays alarmed for as long as the rolling reference lags a level shift; the windowed
test resets by itself.

Causality: every statistic at reading ``i`` uses readings ``<= i`` only (rolling windows are trailing,
the seasonal lags are found at or before ``t_i - k days``), so adding later readings never changes an
earlier score (``tests/test_flow_detectors.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DAY_NS = 86_400 * 10**9
#: z above which a statistic carries no more information (and float tails underflow).
Z_CAP = 37.0


@dataclass(frozen=True)
class DetectorConfig:
    """The ensemble's settings (set on NAB's development series, ``benchmarks/flow_nab.py``)."""

    window: int = 4000
    min_history: int = 10
    seasonal_days: int = 3
    level_span: int = 12
    quiet: int = 150
    weights: dict[str, float] = field(
        default_factory=lambda: {"gaussian": 1.0, "seasonal": 0.9, "level": 0.5}
    )
    #: Ensemble z at which a reading is predicted anomalous (``anomaly == 0.5``).
    threshold_z: float = 7.0


DETECTORS = ("gaussian", "seasonal", "level")


def _standardise(values: pd.Series, reference: pd.Series, window: int, min_periods: int) -> np.ndarray:
    """``(values - mean) / std`` of ``reference``'s trailing window; 0 where it has no spread yet."""
    rolling = reference.rolling(window, min_periods=min_periods)
    mean, std = rolling.mean(), rolling.std()
    z = (values - mean) / std.where(std > 0)
    return np.clip(z.fillna(0.0).to_numpy(), -Z_CAP, Z_CAP)


def gaussian_z(x: np.ndarray, config: DetectorConfig) -> np.ndarray:
    s = pd.Series(x)
    return _standardise(s, s.shift(1), config.window, config.min_history)


def _window_means(x: np.ndarray, end: np.ndarray, span: int) -> np.ndarray:
    """Mean of ``x[end - span : end]`` (fewer at the start; NaN when empty), by cumulative sums."""
    csum = np.r_[0.0, np.cumsum(x)]
    start = np.maximum(end - span, 0)
    count = end - start
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[np.clip(end, 0, len(x))] - csum[start]) / count, np.nan)


def seasonal_z(t_ns: np.ndarray, x: np.ndarray, config: DetectorConfig) -> np.ndarray:
    n = len(x)
    if n < 3:
        return np.zeros(n)
    steps = pd.Series(np.diff(t_ns, prepend=t_ns[0]).astype(float))
    tolerance = 1.5 * steps.shift(1).rolling(100, min_periods=1).median().fillna(0.0).to_numpy()
    span = max(config.level_span // 2, 3)
    here = np.arange(n)
    recent = _window_means(x, here, span)
    lagged, lagged_level = [], []
    for k in range(1, config.seasonal_days + 1):
        target = t_ns - k * DAY_NS
        j = np.searchsorted(t_ns, target, side="right") - 1
        ok = (j >= 0) & (target - t_ns[np.maximum(j, 0)] <= tolerance) & (j < here - 1)
        lagged.append(np.where(ok, x[np.maximum(j, 0)], np.nan))
        lagged_level.append(np.where(ok, _window_means(x, np.maximum(j, 0), span), np.nan))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no lag found
        forecast = (
            np.nanmedian(np.vstack(lagged), axis=0) + recent - np.nanmedian(np.vstack(lagged_level), axis=0)
        )
    residual = pd.Series(x - forecast)
    return _standardise(residual, residual.shift(1), config.window, 20)


def level_z(x: np.ndarray, config: DetectorConfig) -> np.ndarray:
    s = pd.Series(x)
    span = config.level_span
    short = s.rolling(span, min_periods=span).mean()
    before = s.shift(span).rolling(config.window, min_periods=50)
    std = before.std() / np.sqrt(span)
    z = (short - before.mean()) / std.where(std > 0)
    return np.clip(z.fillna(0.0).to_numpy(), -Z_CAP, Z_CAP)


def series_z(t_ns: np.ndarray, x: np.ndarray, config: DetectorConfig) -> dict[str, np.ndarray]:
    """Every detector's |z| for one series (readings in time order)."""
    return {
        "gaussian": np.abs(gaussian_z(x, config)),
        "seasonal": np.abs(seasonal_z(t_ns, x, config)),
        "level": np.abs(level_z(x, config)),
    }


def quiet_after_alarm(score: np.ndarray, quiet: int) -> np.ndarray:
    """A score stays only where it exceeds every score of the previous ``quiet`` readings; elsewhere
    it is 0 (the event was already raised)."""
    if quiet <= 0 or len(score) == 0:
        return score
    before = pd.Series(score).shift(1).rolling(quiet, min_periods=1).max().fillna(-np.inf).to_numpy()
    return np.where(score > before, score, 0.0)


def combined_z(parts: dict[str, np.ndarray], config: DetectorConfig, only: str | None = None) -> np.ndarray:
    """The ensemble's z (largest weighted detector z, alarms quieted), or one detector's alone."""
    names = [only] if only else [d for d in DETECTORS if config.weights.get(d, 0.0) > 0]
    weights = {only: 1.0} if only else config.weights
    stacked = np.maximum.reduce([weights[d] * parts[d] for d in names])
    return quiet_after_alarm(stacked, config.quiet)


def series_bounds(group: np.ndarray) -> np.ndarray:
    """Where each series starts in readings sorted by (group, time), and the end: ``[s0, s1, ..., n]``."""
    if not len(group):
        return np.zeros(1, dtype=np.int64)
    return np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])


def ensemble_z(
    group: np.ndarray, t_ns: np.ndarray, x: np.ndarray, config: DetectorConfig, only: str | None = None
) -> np.ndarray:
    """The ensemble z of every reading; readings sorted by (group, time)."""
    out = np.zeros(len(x))
    bounds = series_bounds(group)
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        parts = series_z(t_ns[start:end], x[start:end], config)
        out[start:end] = combined_z(parts, config, only)
    return out


def surprise(z: np.ndarray) -> np.ndarray:
    """``-log10`` of the two-sided Gaussian tail probability of ``z``: 2 at p = 0.01, 11.6 at z = 7."""
    from scipy.special import log_ndtr

    return -(np.log(2.0) + log_ndtr(-np.abs(z))) / np.log(10.0)


def anomaly_probability(z: np.ndarray, threshold_z: float) -> np.ndarray:
    """A probability in (0, 1) that is a monotone function of the tail probability alone, the same in
    every series, and 0.5 exactly at the decision threshold: ``s / (s + s*)`` with ``s`` the surprise
    and ``s*`` the threshold's."""
    s = np.maximum(surprise(z), 0.0)  # z = 0 is p = 1: no surprise (not a rounding's -0.0)
    s_star = float(surprise(np.array([threshold_z]))[0])
    return s / (s + s_star)

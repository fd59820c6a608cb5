"""Causal, scale-free window features of every reading (pure numpy/pandas, vectorised over series).

Why these: a champion must work on sites it never saw, in any units and at any level, so every
feature is a ratio of the series' own values (×1000 units → the same features), and only readings at
or before the point enter it (what a live scorer can know). Per reading, with T the window length:

- ``z``: robust z-score against the median and IQR of the previous T readings;
- ``d1``, ``d1_prev``: the last two steps in the same scale;
- ``rel_level``: the value against the median magnitude of the previous day (L readings);
- ``is_zero``, ``zero_run``, ``flat_run``: dropouts and a stuck sensor (run lengths, log1p);
- ``shift``: median of the newer half of the last T readings minus the older half, scaled;
- ``noise``: spread of the last steps against the scale of the level, and against the day's steps;
- ``season_day``, ``season_week``: the value minus the reading at the same time yesterday / last week;
  ``level_day``, ``level_week``: the same for the window median (slow drift);
- ``gap``: the step before the reading against the usual step; ``tod_*``/``dow_*``: time of day/week;
- ``history``: how many earlier readings the series has (the first ones are scored with less).

All series are computed in one pass: they are laid end to end with ``PAD`` empty slots between them,
so pandas' trailing rolling windows never reach into another series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

T = 60  # readings per window (5 hours of 5-minute readings, as in the seed)
L = 288  # one day of 5-minute readings: the long window
PAD = L
CLIP = 50.0
DAY_NS = 86_400 * 10**9
FEATURES: tuple[str, ...] = (
    "z",
    "d1",
    "d1_prev",
    "rel_level",
    "is_zero",
    "zero_run",
    "flat_run",
    "shift",
    "noise",
    "noise_ratio",
    "season_day",
    "season_week",
    "level_day",
    "level_week",
    "gap",
    "tod_sin",
    "tod_cos",
    "dow_sin",
    "dow_cos",
    "history",
)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` clipped to ±CLIP; 0/0 is 0 and x/0 is ±CLIP (a flat window makes any move big)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out = np.where((den == 0) & (num == 0), 0.0, out)
    return np.clip(out, -CLIP, CLIP)


class _Padded:
    """The series laid end to end in one array, ``PAD`` NaNs before each."""

    def __init__(self, group: np.ndarray, n_groups: int):
        self.pos = np.arange(len(group)) + (group + 1) * PAD
        self.size = len(group) + (n_groups + 1) * PAD

    def lay(self, values: np.ndarray) -> pd.Series:
        out = np.full(self.size, np.nan)
        out[self.pos] = values
        return pd.Series(out)

    def take(self, padded: pd.Series | np.ndarray, lag: int = 0) -> np.ndarray:
        """Values at each reading's slot, or ``lag`` slots earlier (NaN before the series starts)."""
        return np.asarray(padded)[self.pos - lag]


def _run_length(flag: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each position (0 where False), restarting per series."""
    idx = np.arange(len(flag))
    start = np.r_[True, group[1:] != group[:-1]]
    last_false = np.maximum.accumulate(np.where(~flag, idx, -1))
    first = np.maximum.accumulate(np.where(start, idx, 0))
    return (idx - np.maximum(last_false, first - 1)).astype(float)


def _lookup(group: np.ndarray, t_ns: np.ndarray, back_ns: int, tolerance_ns: np.ndarray) -> np.ndarray:
    """Index of the reading of the same series ``back_ns`` earlier (within ``tolerance_ns``), or -1."""
    seconds = t_ns // 10**9
    key = group.astype(np.int64) * (1 << 34) + seconds
    target = key - back_ns // 10**9
    tol = (tolerance_ns // 10**9).astype(np.int64)
    j = np.searchsorted(key, target - tol, side="left")
    j = np.minimum(j, len(key) - 1)
    ok = (np.abs(key[j] - target) <= tol) & (group[j] == group) & (j < np.arange(len(key)))
    return np.where(ok, j, -1)


def _at(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.where(index >= 0, values[np.maximum(index, 0)], np.nan)


def window_features(group: np.ndarray, t_ns: np.ndarray, x: np.ndarray) -> pd.DataFrame:
    """Features of every reading. ``group`` (int codes), ``t_ns`` (UTC ns) and ``x`` (finite floats)
    must be sorted by group then time, one reading per (group, time)."""
    group = np.asarray(group, dtype=np.int64)
    t_ns = np.asarray(t_ns, dtype=np.int64)
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return pd.DataFrame({name: np.zeros(0) for name in FEATURES})
    n_groups = int(group.max()) + 1
    pad = _Padded(group, n_groups)
    xs = pad.lay(x)
    prior = xs.shift(1)
    roll = prior.rolling(T, min_periods=3)
    median = pad.take(roll.median())
    iqr = pad.take(roll.quantile(0.75)) - pad.take(roll.quantile(0.25))
    level = pad.take(prior.abs().rolling(L, min_periods=3).median())
    scale = np.fmax(iqr / 1.349, 0.01 * level)
    scale = np.where(np.isnan(scale), 0.0, scale)
    start = np.r_[True, group[1:] != group[:-1]]
    prev = np.where(start, np.nan, np.r_[np.nan, x[:-1]])
    step = x - prev
    step_prev = np.where(np.r_[True, start[:-1]] | start, np.nan, np.r_[np.nan, step[:-1]])
    half = T // 2
    med_half = xs.rolling(half, min_periods=2).median()
    newer, older = pad.take(med_half), pad.take(med_half, lag=half)
    steps = pad.lay(np.nan_to_num(step, nan=0.0) * np.where(start, np.nan, 1.0))
    noise_short = pad.take(steps.rolling(12, min_periods=3).std())
    noise_long = pad.take(steps.shift(12).rolling(L, min_periods=12).std())
    dt = np.where(start, np.nan, np.r_[0, np.diff(t_ns)].astype(float))
    usual_step = pad.take(pad.lay(dt).shift(1).rolling(T, min_periods=1).median())
    tolerance = np.where(np.isnan(usual_step), 150e9, usual_step / 2).astype(np.int64)
    med_now = pad.take(xs.rolling(T, min_periods=3).median())
    out = {
        "z": _ratio(x - median, scale),
        "d1": _ratio(step, scale),
        "d1_prev": _ratio(step_prev, scale),
        "rel_level": _ratio(x, level),
        "is_zero": (x == 0).astype(float),
        "zero_run": np.log1p(_run_length(x == 0, group)),
        "flat_run": np.log1p(_run_length(np.nan_to_num(step, nan=1.0) == 0, group)),
        "shift": _ratio(newer - older, scale),
        "noise": _ratio(noise_short, scale),
        "noise_ratio": _ratio(noise_short, noise_long),
    }
    for name, back in (("day", DAY_NS), ("week", 7 * DAY_NS)):
        j = _lookup(group, t_ns, back, tolerance)
        out[f"season_{name}"] = _ratio(x - _at(x, j), scale)
        out[f"level_{name}"] = _ratio(med_now - _at(med_now, j), scale)
    out["gap"] = np.log(np.fmax(np.nan_to_num(_ratio(dt, usual_step), nan=1.0), 1e-3))
    seconds = (t_ns // 10**9).astype(np.int64)
    tod = (seconds % 86_400) / 86_400 * 2 * np.pi
    dow = ((seconds // 86_400 + 3) % 7) / 7 * 2 * np.pi  # 1970-01-01 was a Thursday (3)
    out.update(tod_sin=np.sin(tod), tod_cos=np.cos(tod), dow_sin=np.sin(dow), dow_cos=np.cos(dow))
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    out["history"] = np.minimum(np.arange(n) - first, L).astype(float)
    return pd.DataFrame(out, columns=list(FEATURES))


def windows(group: np.ndarray, x: np.ndarray, length: int = T) -> np.ndarray:
    """The last ``length`` readings up to each reading, scaled like ``z`` (the previous readings'
    median and IQR), as ``(n, length, 2)`` float32: scaled value (0 before the series starts) and a
    mask of which steps exist. The input of the seed's chunk classifiers (LSTM, FCN)."""
    group = np.asarray(group, dtype=np.int64)
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return np.zeros((0, length, 2), dtype=np.float32)
    pad = _Padded(group, int(group.max()) + 1)
    xs = pad.lay(x)
    roll = xs.shift(1).rolling(length, min_periods=3)
    median = pad.take(roll.median())
    iqr = pad.take(roll.quantile(0.75)) - pad.take(roll.quantile(0.25))
    level = pad.take(xs.shift(1).abs().rolling(L, min_periods=3).median())
    scale = np.nan_to_num(np.fmax(iqr / 1.349, 0.01 * level), nan=0.0)
    view = np.lib.stride_tricks.sliding_window_view(xs.to_numpy(), length)
    rows = view[pad.pos - length + 1]
    present = ~np.isnan(rows)
    centre = np.nan_to_num(median, nan=x)[:, None]
    scaled = _ratio(rows - centre, scale[:, None])
    scaled = np.where(present, np.nan_to_num(scaled, nan=0.0), 0.0)
    return np.stack([scaled, present.astype(float)], axis=2).astype(np.float32)

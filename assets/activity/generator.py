"""Synthetic activity data that keeps per-class statistics of real windows: layout-(b) windows on Spark,
and layout-(a) participant files at benchmark scale.

The fitted model (:class:`WindowStats`) describes, per class, a window of the six motion signals by
parts that can each be estimated from a handful of windows (the real per-participant data has a
single window for some classes, so a full 600-dimensional covariance is out of reach):

* **level**: mean vector and covariance of 12 per-window numbers, each signal's log standard deviation
  and its mean in units of that deviation (motion that is stronger is also offset more, which a raw
  mean would not capture: it made still windows too offset and their magnitudes never near zero);
* **envelope**: the power spectrum of the log of a 0.5 s moving RMS shared by all six signals. Real
  motion comes in bursts, with all axes quiet or busy together; stationary noise misses this and with
  it the magnitude minima and spectra;
* **carrier**: the cross-axis correlation and per-signal power spectrum of the signals divided by
  that envelope (rhythm: walking versus typing);
* **marginal shape**: 101 quantiles of each standardised signal (spiky, with a kurtosis near 7).

Covariances and correlations are shrunk toward the within-class ones pooled over all classes, with
the weight of :data:`PRIOR_WINDOWS` windows, so sparse classes borrow shape from the others instead
of collapsing. A window is generated as correlated white noise filtered to the carrier spectrum,
multiplied by an envelope drawn from its spectrum, given the class marginal by rank (each value
replaced by the class quantile of its rank in the window), and scaled to a level drawn from the
class distribution. Location (distance and bearing from home, constant within a window as in the
real data) is present with the class's observed frequency and drawn from its quantiles.

Generation is a ``mapInPandas`` over ``spark.range``, so it scales with partitions; each Arrow batch
seeds its generator from ``(seed, first row id)``, so a given seed, row count and partition count
always give the same data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from scipy.ndimage import uniform_filter1d

from assets.activity.layouts import (
    LABEL_COLUMN,
    MAX_ABS_ACCELERATION_G,
    MAX_ABS_ROTATION_RAD_S,
    RAW_FIELDS,
    RAW_TYPES,
    SAMPLE_RATE_HZ,
    WINDOW_COLUMNS,
    WINDOW_LOCATION,
    WINDOW_SIGNALS,
    WINDOW_STEPS,
)

#: How many windows' worth of weight the pooled covariance gets when a class's own is estimated.
PRIOR_WINDOWS = 12
_ENVELOPE_STEPS = 5  # 0.5 s
_LEVELS = np.linspace(0.0, 1.0, 101)
_EPSILON = 1e-9
_START = dt.datetime(2024, 1, 1, 8, 0, 0)
_STEP_MICROS = int(1_000_000 / SAMPLE_RATE_HZ)
_SIGNALS = len(WINDOW_SIGNALS)
_FULL_SCALE = np.array(
    [
        MAX_ABS_ACCELERATION_G if s.startswith("user_acceleration") else MAX_ABS_ROTATION_RAD_S
        for s in WINDOW_SIGNALS
    ]
)


@dataclass(frozen=True)
class ClassStats:
    share: float  # of the fitted windows
    level_mean: np.ndarray  # (12,): per-signal mean / std, then per-signal log std
    level_cholesky: np.ndarray  # (12, 12)
    envelope_gain: np.ndarray  # (steps // 2 + 1,): filter from unit white noise to the log-envelope
    axis_cholesky: np.ndarray  # (6, 6): of the correlation between carrier signals
    carrier_gain: np.ndarray  # (6, steps // 2 + 1)
    quantiles: np.ndarray  # (6, 101) of the standardised signals
    location_share: float
    location_quantiles: np.ndarray  # (2, 101): distance, bearing; NaN when never observed


@dataclass(frozen=True)
class WindowStats:
    """Per-class descriptive statistics of real windows, in the class order of ``classes``."""

    classes: tuple[str, ...]
    per_class: tuple[ClassStats, ...]


def _standardise(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return (x - x.mean(axis=axis, keepdims=True)) / (x.std(axis=axis, keepdims=True) + _EPSILON)


def _gain(series: np.ndarray) -> np.ndarray:
    """Filter gain that turns unit white noise into series with the mean power spectrum of ``series``."""
    return np.sqrt((np.abs(np.fft.rfft(series, axis=-1)) ** 2).mean(axis=0) / WINDOW_STEPS)


def _filtered_noise(gain: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return np.fft.irfft(np.fft.rfft(noise, axis=-1) * gain, n=WINDOW_STEPS, axis=-1)


def _shrunk_cholesky(own: np.ndarray, n: int, pooled: np.ndarray, correlation: bool = False) -> np.ndarray:
    matrix = (n * own + PRIOR_WINDOWS * pooled) / (n + PRIOR_WINDOWS)
    if correlation:
        scale = np.sqrt(np.diag(matrix))
        matrix = matrix / np.outer(scale, scale)
    return np.linalg.cholesky(matrix + _EPSILON * np.eye(len(matrix)))


def fit_window_stats(windows: pd.DataFrame) -> WindowStats:
    """Fit :class:`WindowStats` on labelled layout-(b) windows (complete signals; unlabelled rows ignored)."""
    windows = windows[windows[LABEL_COLUMN].notna()]
    columns = [f"{s}_{i}" for s in WINDOW_SIGNALS for i in range(1, WINDOW_STEPS + 1)]
    signals = windows[columns].to_numpy(dtype=float).reshape(len(windows), _SIGNALS, WINDOW_STEPS)
    if np.isnan(signals).any():
        raise ValueError("windows with missing signal values: clean them first")
    stds = signals.std(axis=2) + _EPSILON
    standard = _standardise(signals)
    levels = np.column_stack([signals.mean(axis=2) / stds, np.log(stds)])
    rms = np.sqrt(uniform_filter1d((standard**2).mean(axis=1), _ENVELOPE_STEPS, axis=1, mode="nearest"))
    log_envelope = np.log(rms + 1e-3)
    log_envelope -= log_envelope.mean(axis=1, keepdims=True)
    carrier = _standardise(standard / np.exp(log_envelope)[:, None, :])
    axis_products = np.einsum("wat,wbt->wab", carrier, carrier) / WINDOW_STEPS
    labels = windows[LABEL_COLUMN].to_numpy()
    classes = tuple(sorted(set(labels)))
    class_means = {name: levels[labels == name].mean(axis=0) for name in classes}
    within = levels - np.array([class_means[label] for label in labels])
    pooled_level, pooled_axes = np.cov(within, rowvar=False), axis_products.mean(axis=0)
    location = windows[[f"{name}_1" for name in WINDOW_LOCATION]].to_numpy(dtype=float)
    per_class = []
    for name in classes:
        mask = labels == name
        n = int(mask.sum())
        seen = location[mask][~np.isnan(location[mask]).any(axis=1)]
        per_class.append(
            ClassStats(
                share=n / len(windows),
                level_mean=class_means[name],
                level_cholesky=_shrunk_cholesky(
                    np.cov(within[mask], rowvar=False, bias=True), n, pooled_level
                ),
                envelope_gain=_gain(log_envelope[mask]),
                axis_cholesky=_shrunk_cholesky(axis_products[mask].mean(axis=0), n, pooled_axes, True),
                carrier_gain=_gain(carrier[mask]),
                quantiles=np.quantile(
                    standard[mask].transpose(1, 0, 2).reshape(_SIGNALS, -1), _LEVELS, axis=1
                ).T,
                location_share=len(seen) / n,
                location_quantiles=np.quantile(seen, _LEVELS, axis=0).T
                if len(seen)
                else np.full((2, 101), np.nan),
            )
        )
    return WindowStats(classes, tuple(per_class))


def sample_per_class(windows: DataFrame, max_per_class: int, seed: int = 0) -> pd.DataFrame:
    """At most ``max_per_class`` labelled windows per class, as pandas (for :func:`fit_window_stats`)."""
    rank = F.row_number().over(Window.partitionBy(LABEL_COLUMN).orderBy(F.rand(seed)))
    return (
        windows.where(F.col(LABEL_COLUMN).isNotNull())
        .withColumn("_rank", rank)
        .where(F.col("_rank") <= max_per_class)
        .drop("_rank")
        .toPandas()
    )


def _sample_signals(stats: ClassStats, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 6, steps) windows of one class."""
    noise = np.einsum(
        "ab,wbt->wat", stats.axis_cholesky, rng.standard_normal((count, _SIGNALS, WINDOW_STEPS))
    )
    envelope = np.exp(_filtered_noise(stats.envelope_gain, rng.standard_normal((count, WINDOW_STEPS))))
    bursts = _filtered_noise(stats.carrier_gain, noise) * envelope[:, None, :]
    uniform = (bursts.argsort(axis=2).argsort(axis=2) + 0.5) / WINDOW_STEPS  # ranks in (0, 1)
    marginal = np.stack(
        [np.interp(uniform[:, a], _LEVELS, stats.quantiles[a]) for a in range(_SIGNALS)], axis=1
    )
    levels = stats.level_mean + rng.standard_normal((count, 2 * _SIGNALS)) @ stats.level_cholesky.T
    signals = np.exp(levels[:, _SIGNALS:, None]) * (levels[:, :_SIGNALS, None] + _standardise(marginal))
    # The sensors saturate at full scale; the Gaussian level model's tails would not.
    return np.clip(signals, -_FULL_SCALE[None, :, None], _FULL_SCALE[None, :, None])


def _sample_location(stats: ClassStats, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 2) distance and bearing, NaN where the window has no location."""
    present = rng.random(count) < stats.location_share
    values = np.stack([np.interp(rng.random(count), _LEVELS, q) for q in stats.location_quantiles], axis=1)
    return np.where(present[:, None], values, np.nan)


def _windows_batch(stats: WindowStats, ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Layout-(b) rows (label included) for the given row ids, ``stamp`` 10 s apart by id."""
    chosen = rng.choice(len(stats.classes), size=len(ids), p=[c.share for c in stats.per_class])
    steps = np.empty((len(ids), WINDOW_STEPS, len(WINDOW_SIGNALS) + len(WINDOW_LOCATION)))
    for k, class_stats in enumerate(stats.per_class):
        rows = np.flatnonzero(chosen == k)
        if len(rows):
            steps[rows, :, : len(WINDOW_SIGNALS)] = _sample_signals(class_stats, len(rows), rng).transpose(
                0, 2, 1
            )
            steps[rows, :, len(WINDOW_SIGNALS) :] = _sample_location(class_stats, len(rows), rng)[:, None, :]
    frame = pd.DataFrame(steps.reshape(len(ids), -1), columns=list(WINDOW_COLUMNS[1:-1]))
    frame.insert(
        0, "stamp", pd.Timestamp(_START) + pd.to_timedelta(ids * WINDOW_STEPS / SAMPLE_RATE_HZ, unit="s")
    )
    frame[LABEL_COLUMN] = np.asarray(stats.classes, dtype=object)[chosen]
    return frame


def sample_windows(stats: WindowStats, count: int, seed: int = 0, first_id: int = 0) -> pd.DataFrame:
    """``count`` labelled layout-(b) windows in this process (the simulator's small batches)."""
    ids = np.arange(first_id, first_id + count)
    return _windows_batch(stats, ids, np.random.default_rng([seed, first_id]))


WINDOW_SCHEMA = T.StructType(
    [T.StructField("stamp", T.TimestampNTZType())]
    + [T.StructField(c, T.DoubleType()) for c in WINDOW_COLUMNS[1:-1]]
    + [T.StructField(LABEL_COLUMN, T.StringType())]
)


def generate_windows(
    spark: SparkSession, stats: WindowStats, rows: int, partitions: int | None = None, seed: int = 0
) -> DataFrame:
    """``rows`` labelled layout-(b) windows, classes in the fitted proportions, over ``partitions``."""

    def batches(ids: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in ids:
            values = batch["id"].to_numpy()
            if len(values):
                yield _windows_batch(stats, values, np.random.default_rng([seed, int(values[0])]))

    return spark.range(rows, numPartitions=partitions).mapInPandas(batches, WINDOW_SCHEMA)


# --- layout (a): raw participant files -------------------------------------------------------------

_LOCATION_TYPES = ("residential", "commercial", "road", "park")
#: Episode length in windows (30 s to 5 min: within the default label span, so labels cover them).
_EPISODE_WINDOWS = (3, 30)
_ANSWER_RATE = 0.7  # share of episodes whose prompt the participant answers
_GAP_RATE = 0.05  # share of episodes followed by time off the wrist
_GAP_MINUTES = (10, 60)
_UPDATE_ROWS = 3000  # location and battery refresh: every 5 minutes at 10 Hz
_CHUNK_ROWS = 36_000  # one hour at 10 Hz per write


def _episodes(stats: WindowStats, rng: np.random.Generator) -> Iterator[tuple[int, np.ndarray, int]]:
    """Endless (class index, signals (rows, 6), gap in rows after it) episodes."""
    shares = [c.share for c in stats.per_class]
    while True:
        k = int(rng.choice(len(shares), p=shares))
        windows = _sample_signals(
            stats.per_class[k], int(rng.integers(*_EPISODE_WINDOWS, endpoint=True)), rng
        )
        gap = int(rng.integers(*_GAP_MINUTES) * 600) if rng.random() < _GAP_RATE else 0
        yield k, windows.transpose(0, 2, 1).reshape(-1, len(WINDOW_SIGNALS)), gap


def _readings(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` location readings: the seven numeric location fields, and a location type index."""
    values = rng.standard_normal((count, 7)) * [0.01, 0.01, 10, 90, 1, 10, 5]
    values[:, 3] = np.abs(values[:, 3]) % 360  # course, degrees
    values[:, 4:] = np.abs(values[:, 4:]) + [0, 5, 3]  # speed, horizontal and vertical accuracy
    return values, rng.choice(len(_LOCATION_TYPES), size=count)


def _raw_chunk(
    stats: WindowStats, episodes: Iterator[tuple[int, np.ndarray, int]], state: dict, rng: np.random.Generator
) -> pa.Table:
    """About ``_CHUNK_ROWS`` rows of a participant file as text-ready Arrow columns."""
    signals, labels, offsets = [], [], []
    while sum(len(s) for s in signals) < _CHUNK_ROWS:
        k, episode, gap = next(episodes)
        episode_labels = np.full(len(episode), None, dtype=object)
        if rng.random() < _ANSWER_RATE:
            episode_labels[-1] = stats.classes[k]  # the row after the answer; the activity came before it
        step_offsets = np.zeros(len(episode), dtype=np.int64)
        step_offsets[0] = state.pop("pending_gap", 0)
        state["pending_gap"] = gap
        signals.append(episode)
        labels.append(episode_labels)
        offsets.append(step_offsets)
    motion, label = np.concatenate(signals), np.concatenate(labels)
    n = len(motion)
    ticks = state["tick"] + np.arange(n) + np.cumsum(np.concatenate(offsets))
    state["tick"] = int(ticks[-1]) + 1
    stamps = np.datetime64(_START, "us") + state["day"] + ticks * np.timedelta64(_STEP_MICROS, "us")
    # Orientation follows the rotation rates (rad/s over 0.1 s), wrapped to the CASAS ranges.
    angles = state["angles"] + np.cumsum(motion[:, [5, 3, 4]], axis=0) / SAMPLE_RATE_HZ
    state["angles"] = angles[-1]
    wrap = (angles + np.pi) % (2 * np.pi) - np.pi
    row = state["row"] + np.arange(n)
    state["row"] += n
    fix = row // _UPDATE_ROWS  # which location/battery reading is current; none before the first
    has_fix = fix > 0
    location, kinds = _readings(int(fix[-1] - fix[0]) + 1, rng)
    if state.get("reading", (None,))[0] == fix[0]:  # a reading that began in the previous chunk goes on
        location[0], kinds[0] = state["reading"][1:]
    state["reading"] = (fix[-1], location[-1], kinds[-1])
    fix = fix - fix[0]
    stamp_text = np.char.replace(np.datetime_as_string(stamps, unit="us"), "T", " ")
    columns = {
        "stamp": pa.array(stamp_text),
        "yaw": wrap[:, 0],
        "pitch": np.arcsin(np.sin(angles[:, 1])),  # reflects into [-pi/2, pi/2]
        "roll": wrap[:, 2],
        **{name: motion[:, WINDOW_SIGNALS.index(name)] for name in RAW_FIELDS[4:10]},
        "location_type": pa.array(np.asarray(_LOCATION_TYPES, dtype=object)[kinds[fix]], mask=~has_fix),
    }
    for i, name in enumerate(RAW_FIELDS[11:18]):
        columns[name] = pa.array(location[fix, i], mask=~has_fix)
    columns["battery_state"] = pa.array(np.full(n, "unplugged", dtype=object), mask=~has_fix)
    columns["user_activity_label"] = pa.array(label, type=pa.string())
    return pa.table({name: columns[name] for name in RAW_FIELDS})


def _write_participant(stats: WindowStats, path: Path, index: int, rows: int, seed: int) -> None:
    """Stream one participant file: the two header rows, then ``rows`` rows in hour-sized chunks."""
    rng = np.random.default_rng([seed, index])
    episodes = _episodes(stats, rng)
    state = {"tick": 0, "row": 0, "angles": rng.uniform(-1, 1, 3), "day": np.timedelta64(index % 7, "D")}
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    with path.open("wb") as sink:
        sink.write(f"{','.join(RAW_FIELDS)}\n{','.join(RAW_TYPES)}\n".encode())
        written = 0
        while written < rows:
            table = _raw_chunk(stats, episodes, state, rng).slice(0, rows - written)
            pa_csv.write_csv(table, sink, write_options=options)
            written += table.num_rows


def write_raw_files(
    spark: SparkSession | None,
    participants: int,
    hours: float,
    out_dir: str | Path,
    seed: int = 0,
    *,
    stats: WindowStats,
) -> list[Path]:
    """Write ``participants`` layout-(a) files of ``hours`` of 10 Hz data each (about 13 MB per hour).

    Motion comes from ``stats`` in episodes of one activity each (30 s to 5 min); 70 % of episodes end
    with an answered prompt, whose label is on the episode's last row only; 5 % are followed by 10 to
    60 minutes off the wrist (a gap in ``stamp``). Location and battery values change every 5 minutes
    and are empty before the first reading, as in the CASAS files. Each file is streamed in hour-sized
    chunks, so memory does not grow with ``hours``. With a SparkSession, participants are written by
    parallel tasks (``out_dir`` must then be visible to the executors); without one, in this process.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"synthetic.p{i + 1}.csv" for i in range(participants)]
    rows = int(round(hours * 3600 * SAMPLE_RATE_HZ))
    jobs = [(str(path), i) for i, path in enumerate(paths)]

    def write(job: tuple[str, int]) -> None:
        _write_participant(stats, Path(job[0]), job[1], rows, seed)

    if spark is None:
        for job in jobs:
            write(job)
    else:
        spark.sparkContext.parallelize(jobs, max(1, len(jobs))).foreach(write)
    return paths

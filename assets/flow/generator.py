"""Series with known anomalies, from real clean flow (``flywheel generate flow``), pure numpy/pandas.

Why: the real file with labels (``test60k.csv``) has almost only dropouts to zero, so a zero rule
looks perfect there. To measure every kind of fault a sewer monitor shows, clean real series (the
QA-corrected values of ``test60k.csv``, ``7881-11742.data.csv`` and ``mock-flow.csv``) are cut,
resampled, moved in time and scaled to another site's units and level, and known anomalies are
injected: dropouts to zero, a stuck sensor, spikes, a level shift, drift, a noise burst and a missing
stretch. Each series is written as ``<name>.csv`` (``time,value``) and its labels as
``<name>.labels.csv`` (``time,type``: one row per anomalous reading; a missing stretch labels the
first reading after it, where it can be seen).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from assets.flow.parsing import parse_times

SHARED = Path("/work/shared/data/flow")
BUNDLED = Path(__file__).resolve().parents[2] / "data" / "flow"
TYPES: tuple[str, ...] = (
    "dropout",
    "stuck",
    "spike",
    "level_shift",
    "drift",
    "noise_burst",
    "missing",
)
#: Readings each injected type spans (min, max).
_LENGTHS: dict[str, tuple[int, int]] = {
    "dropout": (1, 24),
    "stuck": (18, 96),
    "spike": (1, 3),
    "level_shift": (48, 288),
    "drift": (96, 400),
    "noise_burst": (12, 60),
    "missing": (12, 96),
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class GeneratedSeries:
    name: str
    readings: pd.DataFrame  # time (UTC datetimes), value
    labels: pd.DataFrame  # time, type


def clean_sources(folder: Path | None = None) -> list[np.ndarray]:
    """Clean real series (5-minute values) to build from: the shared files when present, else the
    bundled sample (``data/flow``)."""
    folder = folder or (SHARED if SHARED.exists() else BUNDLED)
    sources = []
    for path in sorted(folder.glob("*.csv")):
        if path.name.endswith(".labels.csv") or "predictions" in path.name or "anomalies" in path.name:
            continue
        if path.with_name(f"{path.stem}.labels.csv").exists():
            continue  # a generated series: it holds injected anomalies
        frame = pd.read_csv(path)
        column = next((c for c in ("corrected", "value", "flow") if c in frame.columns), None)
        if column is None:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").dropna().to_numpy(dtype=float)
        nonzero = np.flatnonzero(values)  # a logger switched on late / off early is no flow
        values = values[nonzero[0] : nonzero[-1] + 1] if len(nonzero) else values[:0]
        if len(values) >= 288:
            sources.append(values)
    if not sources:
        raise FileNotFoundError(f"no clean flow series (time,corrected / time,value / time,flow) in {folder}")
    return sources


def _base(sources: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` readings cut from a random source at a day boundary; a source shorter than ``n`` is
    repeated day by day with a little multiplicative noise (so repeats are not exact copies)."""
    source = sources[rng.integers(len(sources))]
    days = max(len(source) // 288, 1)
    pieces, total = [], 0
    while total < n:
        start = int(rng.integers(days)) * 288 if len(source) > n else 0
        piece = source[start : start + n - total]
        if len(source) <= n:
            piece = piece * rng.normal(1.0, 0.02, len(piece))
        pieces.append(piece)
        total += len(piece)
    return np.concatenate(pieces)[:n]


def _inject(values: np.ndarray, kind: str, at: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """The readings ``at .. at+length`` changed by one anomaly of ``kind`` (in place); returns the
    mask of readings that are anomalous."""
    end = min(at + length, len(values))
    span = slice(at, end)
    local = float(np.median(np.abs(values[max(at - 288, 0) : at + 1]))) or 1.0
    mask = np.zeros(len(values), dtype=bool)
    mask[span] = True
    if kind == "dropout":
        values[span] = 0.0
    elif kind == "stuck":
        values[span] = values[at - 1] if at else values[at]
    elif kind == "spike":
        sign = rng.choice([-1.0, 1.0], p=[0.3, 0.7])
        values[span] = values[span] + sign * rng.uniform(1.0, 3.0) * local
    elif kind == "level_shift":
        values[span] = values[span] * rng.choice([rng.uniform(0.3, 0.6), rng.uniform(1.5, 2.5)])
    elif kind == "drift":
        target = rng.choice([rng.uniform(0.4, 0.7), rng.uniform(1.4, 1.8)])
        values[span] = values[span] * np.linspace(1.0, target, end - at)
        drifted = np.abs(np.linspace(1.0, target, end - at) - 1.0) >= 0.1  # visible from 10 % on
        mask[span] = drifted
    elif kind == "noise_burst":
        values[span] = values[span] + rng.normal(0.0, rng.uniform(0.3, 0.8) * local, end - at)
    elif kind == "missing":
        mask[:] = False
        if end < len(values):
            mask[end] = True
    return mask


def generate_series(
    count: int, days: float, seed: int = 0, sources: list[np.ndarray] | None = None, per_day: float = 0.7
) -> list[GeneratedSeries]:
    """``count`` series of ``days`` each with about ``per_day`` injected anomalies a day (every type
    in turn, so each appears), none in the first day (a detector needs some history)."""
    sources = sources or clean_sources()
    rng = np.random.default_rng([seed, 14])
    out = []
    for i in range(count):
        cadence = int(rng.choice([300, 300, 300, 600, 900]))
        n = int(days * 86_400 / cadence)
        step = cadence // 300
        values = _base(sources, n * step, rng)[::step][:n].copy()
        values = values * 10 ** rng.uniform(-2, 3)  # another site's units and level
        start = pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 1500)))
        times = start + pd.to_timedelta(np.arange(n) * cadence, unit="s")
        kinds = np.full(n, "", dtype=object)
        dropped = np.zeros(n, dtype=bool)
        events = max(int(round(per_day * days)), 1)
        first = min(int(86_400 / cadence), n - 1)
        for e in range(events):
            kind = TYPES[(i + e) % len(TYPES)]
            lo, hi = _LENGTHS[kind]
            length = int(rng.integers(lo, hi + 1))
            if n - first - length - 2 <= 0:
                break
            at = int(rng.integers(first, n - length - 1))
            if (
                kinds[max(at - 12, 0) : at + length + 12].any()
                or dropped[max(at - 12, 0) : at + length + 12].any()
            ):
                continue  # keep anomalies apart: each is one event with one type
            mask = _inject(values, kind, at, length, rng)
            kinds[mask] = kind
            if kind == "missing":
                dropped[at : at + length] = True
        keep = ~dropped
        name = f"gen-{seed}-{i:04d}"
        readings = pd.DataFrame({"time": times[keep], "value": values[keep]})
        labelled = keep & (kinds != "")
        labels = pd.DataFrame({"time": times[labelled], "type": kinds[labelled].astype(str)})
        out.append(GeneratedSeries(name, readings.reset_index(drop=True), labels.reset_index(drop=True)))
    return out


def write_series(series: list[GeneratedSeries], out_dir: str | Path) -> list[Path]:
    """``<name>.csv`` and ``<name>.labels.csv`` per series, in a landing's format."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in series:
        readings = s.readings.assign(time=s.readings["time"].dt.strftime(TIME_FORMAT))
        readings.to_csv(folder / f"{s.name}.csv", index=False, float_format="%.6g")
        labels = s.labels.assign(time=s.labels["time"].dt.strftime(TIME_FORMAT))
        labels.to_csv(folder / f"{s.name}.labels.csv", index=False)
        paths += [folder / f"{s.name}.csv", folder / f"{s.name}.labels.csv"]
    return paths


def as_labelled_frame(series: list[GeneratedSeries]) -> pd.DataFrame:
    """One frame of every generated reading: ``series, time, value, label, type`` (for tests and
    benchmarks that skip the landing)."""
    frames = []
    for s in series:
        types = s.readings["time"].map(dict(zip(s.labels["time"], s.labels["type"], strict=True)))
        frames.append(
            s.readings.assign(
                series=s.name,
                label=np.where(types.notna(), "anomaly", "normal"),
                type=types.fillna(""),
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame["time"] = parse_times(frame["time"])
    return frame[["series", "time", "value", "label", "type"]]

"""Flow series files and readings: layouts, times, values, cadence and gaps (pure pandas/numpy).

A landed file is one series (its id is the file's stem unless a ``series`` column is present) in one
of the layouts below. The same time parsing serves the Spark ingest (inside a pandas UDF) and the
model, which gets ``time`` as it arrives on ``flow.readings``: one rule for what a time means.

Times without a zone are wall-clock times in the configured zone (``FLYWHEEL_FLOW_TIMEZONE``, default
UTC); times with an offset (``Z``, ``+02:00``) keep it; numbers are Unix epochs (seconds, or
milliseconds above 10^11). Everything is held as UTC nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Why a line was quarantined (the first that applies).
REASONS: tuple[str, ...] = ("unparseable_time", "unparseable_value", "conflicting_duplicate")
#: Layouts by the set of their (lower-cased) header names, besides an optional ``series`` column:
#: which column is the time, which the value, and whether a QA-corrected value is present.
SERIES_LAYOUTS: dict[frozenset[str], tuple[str, str, str | None]] = {
    frozenset({"time", "value"}): ("time", "value", None),
    frozenset({"time", "raw", "corrected"}): ("time", "raw", "corrected"),
    frozenset({"time", "flow"}): ("time", "flow", None),
    frozenset({"timestamp", "value"}): ("timestamp", "value", None),
}
#: A labels file: one row per anomalous reading with its type (``flywheel generate flow`` writes them).
LABEL_LAYOUT = frozenset({"time", "type"})
#: Readings closer than this share of the value's magnitude count as "raw equals corrected".
CORRECTION_TOLERANCE = 1e-6
#: A step longer than this many cadences is a gap (marked, not an irregularity).
GAP_FACTOR = 1.5

_FORMATS: tuple[str, ...] = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
)
_FRACTION = r"(\.\d{1,9})$"
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


@dataclass(frozen=True)
class Layout:
    """How to read one landed file."""

    kind: str  # "series" or "labels"
    time: str = "time"
    value: str = "value"
    corrected: str | None = None
    series: str | None = None  # the series column, if the file has one


def detect_layout(header: list[str]) -> Layout | None:
    """The layout of a file from its header names, or None (quarantined whole: ``unknown_layout``)."""
    names = [h.strip().lower() for h in header]
    series = "series" if "series" in names else None
    core = frozenset(n for n in names if n != "series")
    if core == LABEL_LAYOUT:
        return Layout("labels", series=series)
    found = SERIES_LAYOUTS.get(core)
    if found is None:
        return None
    time, value, corrected = found
    return Layout("series", time, value, corrected, series)


def parse_times(values: pd.Series, timezone: str = "UTC") -> pd.Series:
    """UTC ``datetime64[ns, UTC]`` for each value (NaT where it is no time in a known format).

    Tries each format on the values not parsed yet, so a file may mix formats. Naive times are
    localised to ``timezone``; an ambiguous wall-clock time (the repeated hour when clocks go back)
    is read as standard time, and a non-existent one (clocks forward) moves to the next valid time.
    """
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values)
        if stamps.dt.tz is None:
            stamps = stamps.dt.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward")
        return stamps.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    numbers = pd.to_numeric(values, errors="coerce")
    is_number = numbers.notna() & np.isfinite(numbers.astype(float))
    if is_number.any():
        n = numbers[is_number].astype(float)
        nanos = np.where(n.abs() > 1e11, n * 1e6, n * 1e9)
        out[is_number] = pd.to_datetime(nanos.astype("int64"), utc=True)
    text = values[~is_number].astype(str).str.strip()
    zoned = text.str.contains(_OFFSET, regex=True)
    if zoned.any():
        out[zoned[zoned].index] = pd.to_datetime(text[zoned], utc=True, errors="coerce", format="ISO8601")
    naive = text[~zoned].str.replace(_FRACTION, "", regex=True)
    fractions = pd.to_timedelta(
        pd.to_numeric(text[~zoned].str.extract(_FRACTION, expand=False), errors="coerce").fillna(0.0),
        unit="s",
    )
    left = naive
    for fmt in _FORMATS:
        if left.empty:
            break
        parsed = pd.to_datetime(left, format=fmt, errors="coerce")
        hit = parsed.notna()
        if hit.any():
            local = (parsed[hit] + fractions[hit[hit].index]).dt.tz_localize(
                timezone, ambiguous=False, nonexistent="shift_forward"
            )
            out[hit[hit].index] = local.dt.tz_convert("UTC")
            left = left[~hit]
    return out


def parse_values(values: pd.Series) -> pd.Series:
    """Finite floats, NaN where the value is empty, not a number, or infinite."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return numbers.where(np.isfinite(numbers))


def detect_cadence(times_ns: np.ndarray) -> float:
    """The series' reading interval in seconds: the median step between distinct sorted times (a
    few gaps or doubled readings do not move it). 0 for fewer than two readings."""
    steps = np.diff(np.unique(np.asarray(times_ns, dtype=np.int64)))
    return float(np.median(steps) / 1e9) if len(steps) else 0.0


def mark_gaps(times_ns: np.ndarray, cadence_s: float) -> np.ndarray:
    """True where a reading follows a step longer than ``GAP_FACTOR`` cadences (sorted times)."""
    times = np.asarray(times_ns, dtype=np.int64)
    if len(times) == 0 or cadence_s <= 0:
        return np.zeros(len(times), dtype=bool)
    steps = np.diff(times, prepend=times[0]) / 1e9
    return steps > GAP_FACTOR * cadence_s


def irregular_steps(times_ns: np.ndarray, gap_before: np.ndarray, cadence_s: float) -> int:
    """How many steps between consecutive readings are neither one cadence (±10 %) nor a marked gap."""
    if len(times_ns) < 2 or cadence_s <= 0:
        return 0
    steps = np.diff(np.asarray(times_ns, dtype=np.int64)) / 1e9
    regular = np.abs(steps - cadence_s) <= 0.1 * cadence_s
    return int((~regular & ~np.asarray(gap_before, dtype=bool)[1:]).sum())


def corrected_labels(raw: pd.Series, corrected: pd.Series) -> pd.Series:
    """``anomaly`` where the QA-corrected value differs from the reading, else ``normal``."""
    tolerance = CORRECTION_TOLERANCE * np.maximum(raw.abs(), corrected.abs()).clip(lower=1.0)
    differs = (raw - corrected).abs() > tolerance
    return pd.Series(np.where(differs, "anomaly", "normal"), index=raw.index)

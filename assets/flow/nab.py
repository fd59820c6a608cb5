"""The Numenta Anomaly Benchmark's standard score, the project's own (pure numpy).

Why our own: the flow gate scores every challenger on a transfer set of series it never trained on,
and a clone without ``../shared`` (the demo's vendored sample) must still be judged. It follows NAB's
rules (Lavin & Ahmad 2015) and is tested against ``../shared/tools/nab_score.py`` on the same scores
(``tests/test_flow_nab.py``):

- the first ``min(floor(0.15 n), 750)`` readings of a file are probationary and not scored;
- a reading is a detection when its score is at or above the threshold;
- a window ``[l, r]`` (inclusive, width ``w``) is worth its earliest detection ``i``:
  ``sigma(-(r - i + 1) / w) / sigma(-1)`` (1 on its first reading, less later), or -1 when missed;
- a detection outside every window costs ``0.11 * sigma(y)`` with ``y`` its distance from the end
  of the previous window in that window's widths (``-0.11`` before the first window has ended, and
  ``y > 3``), where ``sigma(y) = 2 / (1 + e^{5y}) - 1``;
- one threshold for the whole corpus, the one (among the observed scores) that maximises the raw
  score, the highest on ties;
- normalised ``100 (raw - null) / (perfect - null)``: ``null`` never detects (-1 per scored window),
  ``perfect`` detects every window on its first reading.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TP_WEIGHT, FP_WEIGHT, FN_WEIGHT = 1.0, 0.11, 1.0


def sigma(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    with np.errstate(over="ignore"):
        out = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y > 3.0, -1.0, out)


_FIRST = float(sigma(np.array(-1.0)))


def probation(n: int) -> int:
    return min(math.floor(0.15 * n), 750)


@dataclass(frozen=True)
class ScoredFile:
    """One file's scorable readings: their scores, window id (-1 outside) and value if detected."""

    score: np.ndarray
    window: np.ndarray
    value: np.ndarray
    windows: int
    scored_windows: int


def _index(ts: np.ndarray, when: np.datetime64, name: str) -> int:
    hits = np.flatnonzero(ts == when)
    if not len(hits):
        raise ValueError(f"{name}: window edge {when} is not a reading's timestamp")
    return int(hits[0])


def score_file(name: str, ts: np.ndarray, scores: np.ndarray, windows: list[tuple[str, str]]) -> ScoredFile:
    """The scoring geometry of one file (timestamps in time order, one score per reading)."""
    ts = np.asarray(ts).astype("datetime64[ns]")
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    if len(scores) != len(ts):
        raise ValueError(f"{name}: {len(scores)} scores for {len(ts)} readings")
    n = len(ts)
    window = np.full(n, -1, dtype=np.int64)
    value = np.full(n, -FP_WEIGHT)
    at = np.arange(n)
    edges = [
        (
            _index(ts, np.datetime64(pd.Timestamp(a), "ns"), name),
            _index(ts, np.datetime64(pd.Timestamp(b), "ns"), name),
        )
        for a, b in windows
    ]
    for k, (left, right) in enumerate(edges):
        width = right - left + 1.0
        inside = slice(left, right + 1)
        window[inside] = k
        value[inside] = sigma(-(right - at[inside] + 1) / width) * TP_WEIGHT / _FIRST
        after_end = edges[k + 1][0] if k + 1 < len(edges) else n
        later = slice(right + 1, after_end)
        distance = (at[later] - right) / (width - 1.0) if width > 1 else np.full(len(at[later]), np.inf)
        value[later] = FP_WEIGHT * sigma(distance)
    keep = at >= probation(n)
    scored_windows = len(np.unique(window[keep & (window >= 0)]))
    return ScoredFile(scores[keep], window[keep], value[keep], len(edges), scored_windows)


@dataclass(frozen=True)
class NabResult:
    score: float
    threshold: float
    raw: float
    detected_windows: int
    missed_windows: int
    false_positives: int
    files: int


def nab_standard(files: list[ScoredFile]) -> NabResult:
    """The corpus's standard-profile score at its best single threshold."""
    offset, scores, windows, values = 0, [], [], []
    for f in files:
        scores.append(f.score)
        windows.append(np.where(f.window >= 0, f.window + offset, -1))
        values.append(f.value)
        offset += f.windows
    score = np.concatenate(scores) if scores else np.zeros(0)
    window = np.concatenate(windows) if windows else np.zeros(0, dtype=np.int64)
    value = np.concatenate(values) if values else np.zeros(0)
    null = -FN_WEIGHT * sum(f.scored_windows for f in files)
    perfect = TP_WEIGHT * offset
    order = np.argsort(-score, kind="stable")
    s, w, v = score[order], window[order], value[order]
    gain = np.where(w < 0, v, 0.0)
    inside = w >= 0
    if inside.any():
        # A window's value is its best detection so far: each new detection adds its improvement.
        best = pd.Series(np.maximum(v[inside], -FN_WEIGHT)).groupby(w[inside]).cummax()
        previous = best.groupby(w[inside]).shift(1).fillna(-FN_WEIGHT)
        gain[inside] = (best - previous).to_numpy()
    totals = null + np.cumsum(gain)
    last_of_value = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if len(s) else np.zeros(0, dtype=int)
    thresholds = np.r_[np.inf, s[last_of_value]]
    raws = np.r_[null, totals[last_of_value]]
    k = int(np.argmax(raws))  # the first maximum: the highest threshold on ties
    threshold, raw = float(thresholds[k]), float(raws[k])
    detected = score >= threshold
    hit = np.unique(window[detected & (window >= 0)])
    normalised = 100.0 * (raw - null) / (perfect - null) if perfect != null else float("nan")
    return NabResult(
        score=normalised,
        threshold=threshold,
        raw=raw,
        detected_windows=len(hit),
        missed_windows=sum(f.scored_windows for f in files) - len(hit),
        false_positives=int((detected & (window < 0)).sum()),
        files=len(files),
    )


@dataclass(frozen=True)
class Corpus:
    """A NAB-layout folder (``data/<category>/<name>.csv`` with ``timestamp,value``, and
    ``combined_windows.json``), its series read once."""

    root: Path
    windows: dict[str, list[tuple[str, str]]]
    frames: dict[str, pd.DataFrame]

    @classmethod
    def read(cls, root: Path) -> Corpus:
        windows = json.loads((root / "combined_windows.json").read_text())
        present = {name: w for name, w in sorted(windows.items()) if (root / "data" / name).is_file()}
        if not present:
            raise FileNotFoundError(f"{root}: no series of combined_windows.json under data/")
        return cls(root, present, {name: pd.read_csv(root / "data" / name) for name in present})

    def series(self) -> dict[str, pd.DataFrame]:
        return self.frames

    def score(self, scores: dict[str, np.ndarray]) -> NabResult:
        """The standard score of one score array per file (files without scores are left out)."""
        stamps = {name: pd.to_datetime(self.frames[name]["timestamp"]).to_numpy() for name in scores}
        return nab_standard([score_file(n, stamps[n], v, self.windows[n]) for n, v in scores.items()])

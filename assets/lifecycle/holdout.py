"""The frozen holdout: drawn once, versioned, never trained on; replacing it is explicit and logged.

Membership is decided by a hash of the record id, so it does not depend on row order or on which
machine draws it. The rows themselves are stored (not just ids), so later changes to the source
table cannot change what a model is judged on.

A new holdout (replacing one) is drawn only from rows no registered model version trained on, so
that the champion, too, is judged on records it never saw. When there are none left, it is drawn
from every row and marked not ``fresh``: the champion has seen some of it, so the gate cannot
compare a challenger with it and judges on thresholds alone until a champion trained without it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.files import atomic_write_text


def hash_buckets(ids: pd.Series, salt: str) -> pd.Series:
    """Each id's salted hash in ``[0, 10000)``: the same id always lands in the same bucket."""

    def bucket(value: object) -> int:
        digest = hashlib.sha1(f"{salt}:{value}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 10_000

    return ids.map(bucket)


def in_holdout(ids: pd.Series, fraction: float, salt: str) -> pd.Series:
    """Boolean mask: True for ids whose salted hash falls in the first ``fraction`` of the range."""
    return hash_buckets(ids, salt) < int(fraction * 10_000)


def in_time_holdout(times: pd.Series, groups: pd.Series | None, fraction: float) -> pd.Series:
    """Boolean mask: True for rows in the last ``fraction`` of their group's time span (of all rows
    when ``groups`` is None). A group with a single time holds nothing out."""
    t = pd.to_datetime(times, utc=True).astype("int64").astype(float)
    keys = groups.astype(str) if groups is not None else pd.Series(0, index=times.index)
    low = t.groupby(keys).transform("min")
    high = t.groupby(keys).transform("max")
    cutoff = low + (1.0 - fraction) * (high - low)
    return (t >= cutoff) & (high > low)


def draw_holdout(
    ids: pd.Series,
    fraction: float,
    salt: str,
    eligible: np.ndarray,
    untrained: np.ndarray,
    chosen: np.ndarray | None = None,
) -> tuple[np.ndarray, bool]:
    """(mask, fresh): the rows of a new holdout version.

    ``eligible`` may be drawn at all; ``untrained`` no registered version trained on. The draw keeps
    to eligible untrained rows; when the hash picks none of them (small data), the id with the lowest
    hash is held out, so that a holdout holds something and training keeps the rest (all of the pool
    only when it is one id);
    with no such row it falls back to every eligible row, ``fresh=False``. ``chosen`` replaces the
    hash draw (a temporal holdout: the end of each series' time); when none of the chosen rows is
    untrained, the chosen rows are held out again, ``fresh=False``, never the whole pool.
    """
    eligible = np.asarray(eligible, dtype=bool)
    pool = eligible & np.asarray(untrained, dtype=bool)
    hashed = (
        in_holdout(ids, fraction, salt).to_numpy(dtype=bool)
        if chosen is None
        else np.asarray(chosen, dtype=bool)
    )
    if not pool.any():
        return hashed & eligible, False
    mask = hashed & pool
    if mask.any():
        return mask, True
    if chosen is not None:
        # The end of time holds no untrained row: that end again, not fresh (the whole pool would
        # leave nothing to train on and break the time order).
        return hashed & eligible, False
    buckets = hash_buckets(ids, salt).to_numpy()
    lowest = buckets[pool].min()
    ids_array = ids.to_numpy()
    first = ids_array[pool][buckets[pool] == lowest][0]
    return pool & (ids_array == first), True


@dataclass(frozen=True)
class HoldoutVersion:
    version: int
    path: Path
    rows: int
    created_at: str
    reason: str
    #: Drawn only from rows no registered version had trained on (older manifests: assumed).
    fresh: bool = True


def inputs_path(holdout: Path | str) -> Path:
    """Where a holdout version's frozen model inputs are kept (beside its rows)."""
    path = Path(holdout)
    return path.with_name(path.stem + ".inputs.parquet")


class HoldoutStore:
    """Versions of one use case's holdout under ``<FLYWHEEL_HOME>/lifecycle/<uc>/holdout``."""

    def __init__(self, root: Path):
        self.root = root
        self.manifest = root / "manifest.json"

    def _entries(self) -> list[dict]:
        return json.loads(self.manifest.read_text()) if self.manifest.exists() else []

    def current(self) -> HoldoutVersion | None:
        entries = self._entries()
        if not entries:
            return None
        e = entries[-1]
        return HoldoutVersion(
            e["version"], self.root / e["file"], e["rows"], e["created_at"], e["reason"], e.get("fresh", True)
        )

    def history(self) -> list[dict]:
        return self._entries()

    def freeze(
        self, rows: pd.DataFrame, reason: str, fresh: bool = True, inputs: pd.DataFrame | None = None
    ) -> HoldoutVersion:
        """Store ``rows`` as the next holdout version and make it current (the manifest is replaced
        atomically, so a reader sees the old current version or the new one). ``inputs``, what the
        model is scored on when the rows do not hold it (``LifecycleSpec.holdout_inputs``), is stored
        beside them (``holdout-v<N>.inputs.parquet``) before the version becomes current."""
        entries = self._entries()
        version = (entries[-1]["version"] + 1) if entries else 1
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"holdout-v{version}.parquet"
        rows.to_parquet(self.root / name, index=False)
        if inputs is not None:
            inputs.to_parquet(inputs_path(self.root / name), index=False)
        entry = {
            "version": version,
            "file": name,
            "rows": len(rows),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "reason": reason,
            "fresh": fresh,
        }
        atomic_write_text(self.manifest, json.dumps(entries + [entry], indent=1))
        return self.current()  # type: ignore[return-value]

"""The per-file decoded table: each landed PNG decoded once, kept by object key and version.

No Dagster, no Spark here (the asset wires Spark to it). ``<tables>/gravityspy/decoded/slot=<digest>/``
holds the files one ingest run decoded (``key, version`` beside :data:`assets.gravityspy.ingest.
DECODED_COLUMNS`). The next run decodes only keys whose ``key@version`` no slot holds (new or
replaced files); a file gone from the landing, or replaced, leaves its old slot row, which is pruned
(a slot left empty is removed). So 10k glitches landed in batches are decoded once each, and the
glitch table is assembled from the decoded rows, never from a second decode.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SLOT_PREFIX = "slot="


def slot_name(pairs: list[tuple[str, str]]) -> str:
    """A slot named after what it holds: re-decoding the same files rewrites the same slot."""
    digest = hashlib.sha1("\n".join(f"{k}@{v}" for k, v in sorted(pairs)).encode()).hexdigest()[:16]
    return f"{SLOT_PREFIX}{digest}"


def _parts(slot: Path) -> list[Path]:
    return sorted(slot.glob("*.parquet"))


def slot_index(root: Path) -> pd.DataFrame:
    """``slot, key, version`` of every decoded row (only these columns are read: no grids)."""
    import pandas as pd

    frames = []
    for slot in sorted(root.glob(f"{SLOT_PREFIX}*")) if root.exists() else []:
        for part in _parts(slot):
            frame = pd.read_parquet(part, columns=["key", "version"])
            frames.append(frame.assign(slot=slot.name))
    if not frames:
        return pd.DataFrame({"slot": [], "key": [], "version": []}, dtype=object)
    return pd.concat(frames, ignore_index=True)[["slot", "key", "version"]]


def live_rows(index: pd.DataFrame, landed: Mapping[str, str]) -> pd.Series:
    """True for rows whose key is still landed at the same version."""
    return index["key"].map(landed).eq(index["version"])


def to_decode(index: pd.DataFrame, landed: Mapping[str, str]) -> list[str]:
    """Landed keys no slot holds at their current version (new or replaced files), sorted."""
    live = index[live_rows(index, landed)]
    held = set(zip(live["key"], live["version"], strict=True))
    return sorted(k for k, v in landed.items() if (k, v) not in held)


def prune(root: Path, index: pd.DataFrame, landed: Mapping[str, str]) -> int:
    """Drop rows of files gone from the landing (or replaced): a slot with no live row is removed, a
    slot with some is rewritten with those only. Returns the rows dropped."""
    import pandas as pd

    live = live_rows(index, landed)
    dropped = 0
    for slot, rows in index.groupby("slot"):
        keep = live[rows.index]
        if keep.all():
            continue
        dropped += int((~keep).sum())
        folder = root / slot
        if not keep.any():
            shutil.rmtree(folder, ignore_errors=True)
            continue
        frame = pd.concat([pd.read_parquet(p) for p in _parts(folder)], ignore_index=True)
        frame = frame[frame["key"].map(landed).eq(frame["version"])]
        staged = root / f".{slot}.rewrite"
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        frame.to_parquet(staged / "part-0.parquet", index=False)
        shutil.rmtree(folder)
        staged.rename(folder)
    return dropped

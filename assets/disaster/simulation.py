"""Records for ``flywheel simulate disaster``: messages as they would arrive for triage.

Messages are drawn (with replacement, by seed) from the clean table under ``FLYWHEEL_HOME`` when it
exists, else from the bundled sample, so the stream speaks the language the champion learnt. A
record is ``{id, message, genre, original}`` without labels; ids are new (``sim-<seed>-<n>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KEY_FIELD = "id"
BUNDLED = Path(__file__).resolve().parents[2] / "data" / "disaster" / "disaster_messages.csv"
_FIELDS = ["message", "genre", "original"]


def reference_messages(home: Path) -> pd.DataFrame:
    clean = home / "tables" / "disaster" / "clean"
    frame = pd.read_parquet(clean, columns=_FIELDS) if clean.exists() else pd.read_csv(BUNDLED)[_FIELDS]
    return frame.dropna(subset=["message"]).reset_index(drop=True)


def records(home: Path, count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    messages = reference_messages(home)
    picks = np.random.default_rng(seed).integers(0, len(messages), count)
    for i, row in enumerate(messages.iloc[picks].to_dict(orient="records")):
        yield {
            KEY_FIELD: f"sim-{seed}-{i}",
            "message": row["message"],
            "genre": row["genre"],
            "original": None if pd.isna(row["original"]) else row["original"],
        }

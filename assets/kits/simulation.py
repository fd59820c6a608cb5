"""Records for ``flywheel simulate`` of a kit use case: rows of its clean table (else its landed CSVs)
drawn by seed, sent without their labels under new ids, as a device or a web form would send them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Columns a kit's clean table has that a streamed record does not carry.
NOT_IN_RECORDS = frozenset({"label", "labels", "source_file", "slot", "content_key"})


def reference_rows(use_case: str, home: Path) -> pd.DataFrame:
    clean = home / "tables" / use_case / "clean"
    if clean.exists():
        return pd.read_parquet(clean)
    landed = sorted((home / "landing" / use_case).glob("*.csv"))
    if not landed:
        raise ValueError(f"nothing to simulate {use_case} from: materialize it first (no {clean})")
    return pd.concat([pd.read_csv(p, dtype=str) for p in landed], ignore_index=True)


def kit_records(use_case: str, home: Path, count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    rows = reference_rows(use_case, home)
    keep = [c for c in rows.columns if c not in NOT_IN_RECORDS and c != "id"]
    picks = np.random.default_rng(seed).integers(0, len(rows), count)
    for i, row in enumerate(rows.iloc[picks][keep].to_dict(orient="records")):
        yield {"id": f"sim-{seed}-{i}", **{k: _json_value(v) for k, v in row.items()}}


def _json_value(value: Any) -> Any:
    """A cell as JSON can carry it: arrays (a window) as lists, missing values as None."""
    if isinstance(value, np.ndarray | list | tuple):
        return [float(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return None if pd.isna(value) else value

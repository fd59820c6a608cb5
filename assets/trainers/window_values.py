"""A window of a signal as records carry it (a list or array of numbers, or a text of numbers
separated by ``;``, ``,`` or spaces), read the one way the trainer, the scorer's prepare hook and the
holdout's content key all read it. NumPy and pandas only."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

_SPLIT = re.compile(r"[;,\s]+")


def as_window(value: Any) -> np.ndarray:
    """One record's window as floats (NaN where a value is not a number; empty when there is none)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.empty(0)
    if isinstance(value, str):
        value = [p for p in _SPLIT.split(value.strip()) if p]
    try:  # the common case (numbers, or texts of numbers) without a pandas Series per record
        return np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(list(value), dtype=object), errors="coerce").to_numpy(dtype=float)


def canonical(values: Any) -> str:
    """The window as text: six decimals, ``;``-separated (Spark's cleaning writes the same)."""
    return ";".join(f"{v:.6f}" for v in as_window(values))

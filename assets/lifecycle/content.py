"""Content keys: a hash of what a record says, so the holdout is held out by content, not only by id.

Ids do not tell copies apart: the shared disaster file holds the same text under different ids,
the simulator re-emits clean records under new ids, and an annotator may label a record that is,
word for word, in the holdout. Any of those trained on would inflate the holdout metrics. Two
records with equal keys are treated as the same record.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd

from assets.lifecycle.spec import ContentKey

_SPACE = re.compile(r"\s+")
_SEPARATOR = b"\x1f"


def normalize_text(value: object) -> str:
    """Casefolded, whitespace collapsed and trimmed; a missing value is the empty string."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return _SPACE.sub(" ", str(value).casefold()).strip()


def _numbers(frame: pd.DataFrame, columns: tuple[str, ...], decimals: int) -> np.ndarray:
    """Rounded values as a float matrix; -0.0 becomes 0.0 and a missing value (or column) one fixed
    NaN, so equal numbers give equal bytes."""
    values = np.full((len(frame), len(columns)), np.nan, dtype=np.float64)
    for j, column in enumerate(columns):
        if column in frame.columns:
            values[:, j] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    values = np.round(values, decimals) + 0.0
    values[np.isnan(values)] = np.nan
    return values


def content_keys(frame: pd.DataFrame, key: ContentKey, id_column: str | None = None) -> pd.Series:
    """One 16-hex-digit key per row of ``frame`` (same index). A text column the frame lacks counts
    as empty and a number column as missing, so an annotation without ``original`` still matches the
    clean record it copies; with no content columns configured the key is the id."""
    if not key.columns:
        if id_column is None:
            raise ValueError("a content key needs content columns or an id column")
        return frame[id_column].astype(str)
    texts = [
        [normalize_text(v) for v in frame[c].tolist()] if c in frame.columns else [""] * len(frame)
        for c in key.text
    ]
    numbers = _numbers(frame, key.numbers, key.decimals) if key.numbers else None
    keys = []
    for i in range(len(frame)):
        digest = hashlib.sha1()
        for column in texts:
            digest.update(column[i].encode("utf-8"))
            digest.update(_SEPARATOR)
        if numbers is not None:
            digest.update(numbers[i].tobytes())
        keys.append(digest.hexdigest()[:16])
    return pd.Series(keys, index=frame.index, dtype=object)

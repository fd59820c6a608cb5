"""A window record as the timeseries kit's loop reads it (pure: the annotation page and the scorer
both use it): the window's values as floats, and ``content``, the window as canonical text (six
decimals, ``;``-separated), which is how the holdout recognises the same window under another id.
Spark's cleaning writes the same text (``assets/kits/window_cleaning.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from assets.trainers.window_values import as_window, canonical


def stream_record(record: dict[str, Any]) -> dict[str, Any]:
    """The loop's ``prepare`` hook: ``values`` as a list of floats plus ``content``; a window with a
    value that is not a number is refused (``ValueError``: dead-lettered with its reason)."""
    window = as_window(record.get("values"))
    if window.size and bool(np.isnan(window).any()):
        raise ValueError("not_a_number: a value of the window is not a number")
    return {**record, "values": window.tolist(), "content": canonical(window)} if window.size else record

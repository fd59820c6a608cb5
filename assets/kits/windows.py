"""A window record as the timeseries kit's loop reads it (pure: the annotation page and the scorer
both use it): the window's values as floats, and ``content_key``, the window as canonical text (six
decimals, ``;``-separated), which is how the holdout recognises the same window under another id.
The training table makes the same key from the cleaned values (``assets/kits/timeseries.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from assets.trainers.window_values import as_window, canonical


def stream_record(record: dict[str, Any]) -> dict[str, Any]:
    """The loop's ``prepare`` hook: ``values`` as a list of floats plus ``content_key``; a window with a
    value that is not a number is refused (``ValueError``: dead-lettered with its reason)."""
    window = as_window(record.get("values"))
    if window.size and not bool(np.isfinite(window).all()):
        raise ValueError("not_a_number: a value of the window is not a finite number")
    return {**record, "values": window.tolist(), "content_key": canonical(window)} if window.size else record

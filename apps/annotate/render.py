"""How a queued payload is shown to an annotator: pure functions from a payload to an HTML fragment.

People label what they can see, so each record is shown the way its data reads best: a message as
text, a 10 s sensor window (the activity ``windows`` layout: ``stamp`` plus
``user_acceleration_{x,y,z}_{i}`` and ``rotation_rate_{x,y,z}_{i}`` per step) as a line plot, a
spectrogram as an image, a Gravity Spy glitch (``spectrogram_0.5`` … ``spectrogram_4.0``, base64 PNGs)
as its four views side by side, anything else as a key/value table. Every value is escaped here, because
payloads come from outside (Kafka records, uploads) and the page inserts this HTML as is.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from html import escape
from typing import Any, Literal

Kind = Literal["text", "window", "image", "spectrograms", "table", "series", "values"]
#: A reading of a monitored series (flow): shown as the window before it, the reading highlighted.
SERIES_FIELDS = ("series", "time", "value")

TEXT_FIELDS = ("text", "message", "tweet", "content")
IMAGE_FIELDS = ("image_path", "image_url", "image_png", "image_base64", "image")
#: A window of one signal (the timeseries kit): ``values`` as numbers, or a text of them.
VALUES_FIELD = "values"
_SIGNAL_RE = re.compile(r"^(user_acceleration|rotation_rate)_([xyz])_(\d+)$")
_PANELS = (("user_acceleration", "acceleration (G)"), ("rotation_rate", "rotation rate (rad/s)"))
_COLOURS = {"x": "#d62728", "y": "#2ca02c", "z": "#1f77b4"}
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MAX_CELL = 500
_MAX_ROWS = 200
_MAX_TEXT = 20_000
#: At most this many values of a window are plotted.
_MAX_VALUES = 5_000
#: A Gravity Spy glitch's four views (base64 PNG fields), shortest duration first.
_SPECTROGRAM_RE = re.compile(r"^spectrogram_(\d+(?:\.\d+)?)$")
#: Fields of a glitch payload not worth a table row (the decoded grids the loop adds).
_GRID_RE = re.compile(r"^energy_\d+(?:\.\d+)?$")


def _text_field(payload: Mapping[str, Any]) -> str | None:
    return next((f for f in TEXT_FIELDS if isinstance(payload.get(f), str)), None)


def _window_signals(payload: Mapping[str, Any]) -> dict[tuple[str, str], list[float]]:
    """``{(signal, axis): values by step}`` when all six signals are there with at least two steps."""
    series: dict[tuple[str, str], dict[int, float]] = {}
    for key, value in payload.items():
        match = _SIGNAL_RE.match(str(key))
        if match:
            series.setdefault((match[1], match[2]), {})[int(match[3])] = _as_float(value)
    if len(series) != 6 or min(len(v) for v in series.values()) < 2:
        return {}
    return {key: [steps[i] for i in sorted(steps)] for key, steps in series.items()}


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _png_data_url(payload: Mapping[str, Any]) -> str | None:
    """A ``data:`` URL for an inline base64 PNG (or JPEG: the image kit's ``image``), only if it really
    decodes to one."""
    raw = payload.get("image_png", payload.get("image_base64", payload.get("image")))
    if not isinstance(raw, str):
        return None
    data = (
        raw.split(",", 1)[1] if raw.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) else raw
    )
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if decoded.startswith(_PNG_MAGIC):
        return f"data:image/png;base64,{data}"
    return f"data:image/jpeg;base64,{data}" if decoded.startswith(_JPEG_MAGIC) else None


def _inline_png(raw: Any) -> str | None:
    """A ``data:`` URL for a base64 PNG string, only if it really decodes to a PNG."""
    if not isinstance(raw, str):
        return None
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    return f"data:image/png;base64,{raw}" if decoded.startswith(_PNG_MAGIC) else None


def spectrogram_views(payload: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """``[(duration, data URL or None)]`` of a glitch payload's views by duration (empty: not a glitch)."""
    views = []
    for key, value in payload.items():
        match = _SPECTROGRAM_RE.match(str(key))
        if match:
            views.append((float(match[1]), match[1], _inline_png(value)))
    if not views or not any(url for _d, _n, url in views):
        return []
    return [(name, url) for _d, name, url in sorted(views)]


def spectrograms_html(payload: Mapping[str, Any]) -> str:
    """The glitch's views side by side, each captioned with its duration."""
    cells = "".join(
        f'<figure class="view"><img alt="{escape(name)} s spectrogram" src="{escape(url, quote=True)}">'
        f"<figcaption>{escape(name)} s</figcaption></figure>"
        if url
        else f'<figure class="view missing"><figcaption>{escape(name)} s: not a PNG</figcaption></figure>'
        for name, url in spectrogram_views(payload)
    )
    return f'<div class="spectrograms" style="display:flex;gap:4px">{cells}</div>'


def image_source(payload: Mapping[str, Any], media_url: str | None = None) -> str | None:
    """Where the browser can fetch the payload's image: inline PNG, an http(s) URL, or ``media_url``.

    A local ``image_path`` is never put into the page: the server serves it at ``media_url`` after
    checking it lies under an allowed folder.
    """
    inline = _png_data_url(payload)
    if inline:
        return inline
    url = payload.get("image_url")
    if isinstance(url, str) and re.match(r"^https?://", url):
        return url
    if isinstance(payload.get("image_path"), str) and media_url:
        return media_url
    return None


def kind_of(payload: Mapping[str, Any], media_url: str | None = None) -> Kind:
    """Which of the four views fits the payload."""
    if _text_field(payload):
        return "text"
    if _window_signals(payload):
        return "window"
    if image_source(payload, media_url):
        return "image"
    if spectrogram_views(payload):
        return "spectrograms"
    if all(f in payload for f in SERIES_FIELDS):
        return "series"
    if len(_values(payload)) >= 2:
        return "values"
    return "table"


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return escape(text if len(text) <= _MAX_CELL else text[:_MAX_CELL] + "…")


def table(payload: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str:
    """Fields as a key/value table (the fallback view, and the extra fields beside text or image)."""
    items = [(k, v) for k, v in payload.items() if k not in skip][:_MAX_ROWS]
    if not items:
        return ""
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in items)
    more = len(payload) - len(skip) - len(items)
    extra = f'<p class="more">{more} more fields not shown</p>' if more > 0 else ""
    return f'<table class="fields">{rows}</table>{extra}'


def _polylines(
    values: list[float], low: float, high: float, box: tuple[float, float, float, float], colour: str
) -> str:
    left, top, width, height = box
    span = (high - low) or 1.0
    step = width / max(len(values) - 1, 1)
    segments: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if math.isfinite(v):
            segments[-1].append(f"{left + i * step:.1f},{top + height - (v - low) / span * height:.1f}")
        elif segments[-1]:
            segments.append([])  # a gap in the data is a gap in the line, not a jump to zero
    return "".join(
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" points="{" ".join(s)}"/>'
        for s in segments
        if s
    )


def window_svg(payload: Mapping[str, Any]) -> str:
    """An inline SVG with two panels (acceleration, rotation rate), x/y/z as three coloured lines."""
    signals = _window_signals(payload)
    if not signals:
        return ""
    width, panel_h, margin = 720, 150, 48
    parts = [
        f'<svg class="window" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{2 * (panel_h + 30) + 20}" role="img" aria-label="sensor window">'
    ]
    for p, (signal, title) in enumerate(_PANELS):
        top = 20 + p * (panel_h + 30)
        finite = [v for axis in "xyz" for v in signals[(signal, axis)] if math.isfinite(v)] or [0.0]
        low, high = min(finite), max(finite)
        box = (margin, top, width - margin - 10, panel_h)
        parts.append(f'<text x="{margin}" y="{top - 6}" font-size="12">{escape(title)}</text>')
        parts.append(
            f'<rect x="{margin}" y="{top}" width="{box[2]}" height="{panel_h}" fill="none" stroke="#ccc"/>'
        )
        parts.append(f'<text x="4" y="{top + 10}" font-size="10">{high:.2f}</text>')
        parts.append(f'<text x="4" y="{top + panel_h}" font-size="10">{low:.2f}</text>')
        for a, axis in enumerate("xyz"):
            parts.append(_polylines(signals[(signal, axis)], low, high, box, _COLOURS[axis]))
            parts.append(
                f'<text x="{width - 60 + a * 16}" y="{top - 6}" font-size="12" '
                f'fill="{_COLOURS[axis]}">{axis}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def series_svg(values: list[float], highlight: int, labels: tuple[str, str] = ("", "")) -> str:
    """An inline SVG line plot of a series window with the reading at ``highlight`` marked in red;
    ``labels`` are the first and last times, shown under the axis."""
    width, height, margin = 720, 220, 48
    finite = [v for v in values if math.isfinite(v)] or [0.0]
    low, high = min(finite), max(finite)
    box = (margin, 20, width - margin - 10, height - 50)
    parts = [
        f'<svg class="series" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="series window">',
        f'<rect x="{margin}" y="20" width="{box[2]}" height="{box[3]}" fill="none" stroke="#ccc"/>',
        f'<text x="4" y="30" font-size="10">{high:.4g}</text>',
        f'<text x="4" y="{20 + box[3]}" font-size="10">{low:.4g}</text>',
        _polylines(values, low, high, box, "#1f77b4"),
    ]
    if 0 <= highlight < len(values) and math.isfinite(values[highlight]):
        span = (high - low) or 1.0
        x = margin + highlight * box[2] / max(len(values) - 1, 1)
        y = 20 + box[3] - (values[highlight] - low) / span * box[3]
        parts.append(f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{20 + box[3]}" stroke="#d62728" '
                     'stroke-dasharray="3,3"/>')  # fmt: skip
        parts.append(f'<circle class="highlight" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#d62728"/>')
    parts.append(f'<text x="{margin}" y="{height - 10}" font-size="10">{escape(labels[0])}</text>')
    parts.append(
        f'<text x="{width - 10}" y="{height - 10}" font-size="10" text-anchor="end">'
        f"{escape(labels[1])}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _series_window(payload: Mapping[str, Any]) -> str:
    """The reading's window from the flow readings table (the reading alone when it is not there)."""
    try:
        from assets.flow.readings import window_for

        window = window_for(str(payload["series"]), payload["time"])
    except Exception:  # noqa: BLE001 - no table yet, or an unreadable time: show the reading alone
        window = None
    value = _as_float(payload["value"])
    if window is None or not len(window):
        return series_svg([value], 0, (str(payload["time"]), str(payload["time"])))
    import pandas as pd

    from assets.flow.parsing import parse_times

    at = int(parse_times(pd.Series([payload["time"]])).astype("int64").iloc[0])
    stamps = window["t_ns"].tolist()
    highlight = stamps.index(at) if at in stamps else len([s for s in stamps if s <= at]) - 1
    first, last = (
        pd.Timestamp(stamps[0], tz="UTC").isoformat(),
        pd.Timestamp(stamps[-1], tz="UTC").isoformat(),
    )
    return series_svg([float(v) for v in window["value"]], highlight, (first, last))


def _values(payload: Mapping[str, Any]) -> list[float]:
    """The window of a timeseries-kit record as floats (empty when there is none)."""
    raw = payload.get(VALUES_FIELD)
    if isinstance(raw, str):
        raw = [p for p in re.split(r"[;,\s]+", raw.strip()) if p]
    if not isinstance(raw, list | tuple):
        return []
    return [_as_float(v) for v in raw[:_MAX_VALUES]]


def render_payload(payload: Mapping[str, Any], media_url: str | None = None) -> str:
    """The HTML fragment for one sample. ``media_url`` is where the server serves its ``image_path``."""
    kind = kind_of(payload, media_url)
    if kind == "text":
        field = _text_field(payload) or "text"
        text = str(payload[field])[:_MAX_TEXT]
        return f'<div class="sample-text">{escape(text)}</div>' + table(payload, skip=(field,))
    if kind == "window":
        stamp = payload.get("stamp")
        caption = f'<p class="stamp">window starting {escape(str(stamp))}</p>' if stamp is not None else ""
        return f"{caption}{window_svg(payload)}"
    if kind == "image":
        src = image_source(payload, media_url) or ""
        rest = table(payload, skip=IMAGE_FIELDS)
        return f'<img class="sample-image" alt="sample image" src="{escape(src, quote=True)}">{rest}'
    if kind == "spectrograms":
        skip = tuple(k for k in payload if _SPECTROGRAM_RE.match(str(k)) or _GRID_RE.match(str(k)))
        return spectrograms_html(payload) + table(payload, skip=skip)
    if kind == "series":
        caption = (
            f'<p class="stamp">series {escape(str(payload["series"]))}, reading at '
            f"{escape(str(payload['time']))} (red) and the window before it</p>"
        )
        return f"{caption}{_series_window(payload)}" + table(payload)
    if kind == "values":
        values = _values(payload)
        caption = f'<p class="stamp">window of {len(values)} values</p>'
        return caption + series_svg(values, -1, ("first", "last")) + table(payload, skip=(VALUES_FIELD,))
    return table(payload)

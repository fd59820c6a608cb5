"""Records on ``gravityspy.records`` → energy grids (the model contract's input side).

A record is ``{"id", "ifo", "spectrogram_0.5", "spectrogram_1.0", "spectrogram_2.0",
"spectrogram_4.0"}``, each view the PNG file's bytes base64-encoded, or instead a column
``<view column>_uri`` holding a local path (or ``file://`` URI) or an ``s3://bucket/key`` (read with
boto3, which honours ``AWS_ENDPOINT_URL``). A record lacking a view, or holding one that is no
readable Gravity Spy PNG, raises :class:`RecordError` with the reason the loop dead-letters it under.

:func:`stream_record` is the loop's ``prepare`` hook: it decodes the four views once and adds their
grids (``energy_<view>``) and ``content_hash``, so the model scores without decoding again, and an
annotated record becomes a training row like the clean table's.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from assets.gravityspy.images import GRID_SHAPE, VIEWS, DecodeError, content_hash, decode_png

ID_COLUMN = "id"
IFO_COLUMN = "ifo"
#: The record's view columns, in the contract's order.
VIEW_COLUMNS: tuple[str, ...] = tuple(f"spectrogram_{v}" for v in VIEWS)
URI_COLUMNS: tuple[str, ...] = tuple(f"{c}_uri" for c in VIEW_COLUMNS)
#: Grid columns of the clean table (flattened 64×64 float32 per view).
ENERGY_COLUMNS: tuple[str, ...] = tuple(f"energy_{v}" for v in VIEWS)
CONTENT_HASH = "content_hash"
#: Every column a record may carry, in the contract's order (the holdout is scored through ``_uri``).
RECORD_COLUMNS: tuple[str, ...] = (ID_COLUMN, IFO_COLUMN, *VIEW_COLUMNS, *URI_COLUMNS)


class RecordError(ValueError):
    """A record the model cannot score; ``str(exc)`` starts with the reason."""


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and np.isnan(value):
        return False
    return not (isinstance(value, str) and not value.strip())


def read_uri(uri: str) -> bytes:
    """The bytes at a local path, ``file://`` URI or ``s3://bucket/key``."""
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a"):
        import boto3

        body = boto3.client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
        return body.read()
    path = Path(parsed.path) if parsed.scheme == "file" else Path(uri)
    return path.read_bytes()


def view_bytes(record: dict[str, Any], column: str) -> bytes:
    """One view's PNG bytes from the record (base64 column, else its ``_uri``), or :class:`RecordError`."""
    value = record.get(column)
    if _present(value):
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        try:
            return base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RecordError(f"not_base64: {column}") from exc
    uri = record.get(f"{column}_uri")
    if _present(uri):
        try:
            return read_uri(str(uri))
        except Exception as exc:  # noqa: BLE001 - missing file, no access: the record cannot be read
            raise RecordError(f"unreadable_uri: {column}_uri {type(exc).__name__}") from exc
    raise RecordError(f"missing_view: {column}")


def record_grids(record: dict[str, Any]) -> list[np.ndarray]:
    """The four flattened grids of a record: from ``energy_<view>`` when present (prepared records),
    else decoded from its PNGs."""
    grids = []
    for column, energy in zip(VIEW_COLUMNS, ENERGY_COLUMNS, strict=True):
        given = record.get(energy)
        if given is not None and not (isinstance(given, float) and np.isnan(given)):
            grids.append(np.asarray(given, dtype=np.float32).reshape(-1))
            continue
        try:
            grids.append(decode_png(view_bytes(record, column)).reshape(-1))
        except DecodeError as exc:
            raise RecordError(f"{exc.reason}: {column}") from exc
    return grids


def stream_record(record: dict[str, Any]) -> dict[str, Any]:
    """The loop's ``prepare`` hook: the record with its grids and content hash, or ``ValueError``."""
    if not _present(record.get(ID_COLUMN)):
        raise RecordError("missing_fields: id")
    grids = record_grids(record)
    cells = GRID_SHAPE[0] * GRID_SHAPE[1]
    for energy, grid in zip(ENERGY_COLUMNS, grids, strict=True):
        if grid.size != cells:  # would pass here and fail the whole batch inside the model's reshape
            raise RecordError(f"wrong_shape: {energy} has {grid.size} cells, the model reads {cells}")
    prepared = dict(record)
    for energy, grid in zip(ENERGY_COLUMNS, grids, strict=True):
        prepared[energy] = grid.tolist()
    prepared[CONTENT_HASH] = content_hash(grids)
    return prepared


def frame_grids(frame: Any) -> np.ndarray:
    """(rows, 4, cells) float32 grids of a frame of records or clean-table rows."""
    columns = [c for c in frame.columns]
    rows = []
    for values in frame.itertuples(index=False, name=None):
        record = dict(zip(columns, values, strict=True))
        try:
            rows.append(np.stack(record_grids(record)))
        except RecordError as exc:
            raise RecordError(f"{exc} (record {record.get(ID_COLUMN)!r})") from exc
    if not rows:
        return np.zeros((0, len(VIEWS), 0), dtype=np.float32)
    return np.stack(rows).astype(np.float32)

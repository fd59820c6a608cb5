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


class UriRefused(ValueError):
    """A view's URI that is outside the landing, not a plain file, or too large. One message for
    all (the dead-letter reason must not tell which paths exist)."""


def read_uri(uri: str, max_bytes: int | None = None) -> bytes:
    """The bytes of a landed object named by a local path, ``file://`` URI or ``s3://bucket/key``:
    only inside the landing root (local) or the landing bucket and prefix (S3), only a regular file,
    at most ``max_bytes`` (default ``FLYWHEEL_GRAVITYSPY_URI_MAX_BYTES``). Anything else raises
    :class:`UriRefused`: a record must not make the scorer read ``/dev/zero``, ``/etc/...`` or any
    object its credentials reach."""
    from orchestration.settings import get_settings

    settings = get_settings()
    limit = settings.gravityspy_uri_max_bytes if max_bytes is None else max_bytes
    parsed = urlparse(uri)
    if settings.landing.startswith(("s3://", "s3a://")):
        return _read_landed_object(settings, parsed, limit)
    if parsed.scheme not in ("", "file"):
        raise UriRefused("not a landing path")
    root = Path(settings.landing).resolve()
    path = Path(parsed.path if parsed.scheme == "file" else uri).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise UriRefused("outside the landing or not a file")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UriRefused(f"over {limit} bytes")
    return data


def _read_landed_object(settings: Any, parsed: Any, limit: int) -> bytes:
    """An ``s3://`` view inside the landing bucket and prefix, checked for size before it is read."""
    from resources.object_store import ObjectStoreResource, _split_s3

    bucket, prefix = _split_s3(settings.landing)
    key = parsed.path.lstrip("/")
    if parsed.scheme not in ("s3", "s3a") or parsed.netloc != bucket or ".." in key.split("/"):
        raise UriRefused("not in the landing bucket")
    if prefix and not key.startswith(prefix.rstrip("/") + "/"):
        raise UriRefused("not under the landing prefix")
    store = ObjectStoreResource(landing=settings.landing, endpoint_url=settings.aws_endpoint_url)
    relative = key[len(prefix.rstrip("/")) + 1 :] if prefix else key
    info = store.info(relative)
    if info is None or info.size > limit:
        raise UriRefused("missing or too large")
    return store.read_bytes(relative)


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
        except Exception as exc:  # noqa: BLE001 - refused, missing, no access: one reason for all
            raise RecordError(f"unreadable_uri: {column}_uri (a landed file within the limit)") from exc
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


def _stream_uris_allowed() -> bool:
    from orchestration.settings import get_settings

    return get_settings().gravityspy_stream_uris


def stream_record(record: dict[str, Any]) -> dict[str, Any]:
    """The loop's ``prepare`` hook: the record with its grids and content hash, or ``ValueError``."""
    if not _present(record.get(ID_COLUMN)):
        raise RecordError("missing_fields: id")
    named = [c for c in URI_COLUMNS if _present(record.get(c))]
    if named and not _stream_uris_allowed():
        # Streamed views come base64-encoded; FLYWHEEL_GRAVITYSPY_STREAM_URIS=on allows landed files.
        raise RecordError(f"uri_not_allowed: {named[0]} (FLYWHEEL_GRAVITYSPY_STREAM_URIS is off)")
    grids = record_grids(record)
    cells = GRID_SHAPE[0] * GRID_SHAPE[1]
    prepared = dict(record)
    for energy, grid in zip(ENERGY_COLUMNS, grids, strict=True):
        if grid.size != cells:  # would pass here and fail the whole batch inside the model's reshape
            raise RecordError(f"wrong_shape: {energy} has {grid.size} cells, the model reads {cells}")
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


def frozen_records(rows: Any) -> Any:
    """``LifecycleSpec.holdout_inputs``: the holdout rows as records with their four views' PNG bytes
    inlined (read once, from the landed files the rows name), so that a held-out glitch deleted or
    replaced in the landing later changes no evaluation."""
    frozen, records = rows.copy(), rows.to_dict("records")
    for column in VIEW_COLUMNS:
        frozen[column] = [view_bytes(record, column) for record in records]
    for column in URI_COLUMNS:
        if column in frozen:
            frozen[column] = None
    return frozen

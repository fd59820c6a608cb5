"""Uploaded data files (CSV or Parquet), checked row by row before anything is stored.

The seed project's tagger took ``id,text`` files and a labels file; this keeps that shape. A row
without a label becomes a sample in the queue; a row with one becomes a stored label
(``source="upload"``), so a team can bring in labels made elsewhere. Each bad row (an empty or
repeated id, an unknown label) is rejected with its reason and the rest are kept: one stray line
should not cost an annotator the whole file, and the report says exactly what was dropped.

A row whose record lacks what the use case's records must carry (its :class:`RecordSchema`: disaster
a ``message``, tweets a ``text``, activity a ``stamp`` and numeric signals) refuses the whole file
instead: training would build rows from that record, and such a file is a wrong export or meant for
another use case, not a stray line. Files are bounded before they are decoded: the byte size, and
for Parquet the footer's row count, row groups, columns and decoded size, so a small file that
expands to gigabytes is refused without being expanded.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from apps.annotate.labelsets import LabelSet, LabelSetError
from assets.loop.records import RecordSchema

MAX_ID_CHARS = 256
MAX_TEXT_CHARS = 20_000
MAX_COLUMNS = 2_000
MAX_REASONS = 100
RESERVED = ("id", "label", "score")


class UploadError(ValueError):
    """The file as a whole cannot be used: ``status`` 422 (unreadable, wrong columns, a record that
    does not fit the use case's schema) or 413 (over a size limit), ``detail`` for the client."""

    def __init__(self, message: str, status: int = 422, detail: Any = None):
        super().__init__(message)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class UploadLimits:
    """How large one uploaded file may be: as sent (bytes), and as decoded (rows, columns, Parquet row
    groups, bytes of column data)."""

    max_bytes: int = 32 * 1024 * 1024
    max_rows: int = 50_000
    max_columns: int = MAX_COLUMNS
    max_row_groups: int = 1_000
    max_decoded_bytes: int = 256 * 1024 * 1024


@dataclass
class UploadPlan:
    """What a file would add: samples to queue, labels to store, and the rows turned away."""

    samples: list[dict[str, Any]] = field(default_factory=list)
    labelled: list[tuple[dict[str, Any], str | list[str]]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0

    def report(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "kept": self.rows - len(self.rejected),
            "rejected": len(self.rejected),
            "rejected_by_reason": dict(Counter(r["reason"] for r in self.rejected)),
            "rejections": self.rejected[:MAX_REASONS],
        }


def _too_large(what: str, value: int, limit: int) -> UploadError:
    return UploadError(f"at most {limit} {what} per file, got {value}", 413, {what: value, "limit": limit})


def _read_parquet(data: bytes, limits: UploadLimits) -> pd.DataFrame:
    """A Parquet file as a frame, refused (413) from its footer before any column is decoded.

    The footer's counts decide first; since a footer can lie, the decoded size is also counted row
    group by row group while reading, and reading stops as soon as it passes the limit.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(io.BytesIO(data))
    meta = parquet.metadata
    if meta.num_rows > limits.max_rows:
        raise _too_large("rows", meta.num_rows, limits.max_rows)
    if meta.num_row_groups > limits.max_row_groups:
        raise _too_large("row_groups", meta.num_row_groups, limits.max_row_groups)
    if meta.num_columns > limits.max_columns:
        raise _too_large("columns", meta.num_columns, limits.max_columns)
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if declared > limits.max_decoded_bytes:
        raise _too_large("decoded_bytes", declared, limits.max_decoded_bytes)
    tables, decoded = [], 0
    for i in range(meta.num_row_groups):
        table = parquet.read_row_group(i)
        decoded += table.nbytes
        if decoded > limits.max_decoded_bytes:
            raise _too_large("decoded_bytes", decoded, limits.max_decoded_bytes)
        tables.append(table)
    if not tables:
        return parquet.schema_arrow.empty_table().to_pandas()
    return pa.concat_tables(tables).to_pandas()


def read_table(data: bytes, filename: str, limits: UploadLimits | None = None) -> pd.DataFrame:
    """A CSV or Parquet file as a frame; Parquet is told by its magic bytes, not only its name."""
    limits = limits or UploadLimits()
    name = filename.lower()
    if len(data) > limits.max_bytes:
        raise _too_large("bytes", len(data), limits.max_bytes)
    try:
        if data[:4] == b"PAR1" or name.endswith((".parquet", ".pq")):
            return _read_parquet(data, limits)
        if not name.endswith((".csv", ".txt")) and filename:
            raise UploadError(f"{filename!r}: only .csv and .parquet files are accepted")
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except UploadError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a malformed file
        raise UploadError(f"{filename or 'file'}: not a readable CSV or Parquet file ({exc})") from exc


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as plain Python, NaN as None, so payloads serialise as JSON."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return None if isinstance(value, float) and math.isnan(value) else value


def _sample_id(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError("id is empty")
    if len(text) > MAX_ID_CHARS:
        raise ValueError(f"id longer than {MAX_ID_CHARS} characters")
    return text


def _label_value(value: Any, label_set: LabelSet) -> str | list[str]:
    value = _plain(value)
    if not label_set.multilabel:
        return label_set.validate(str(value).strip())
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise LabelSetError("label is not a valid JSON list") from exc
        else:
            value = [part.strip() for part in text.split("|") if part.strip()]
    return label_set.validate(value)


def _score(value: Any) -> float:
    try:
        score = float(_plain(value))
    except (TypeError, ValueError) as exc:
        raise ValueError("score is not a number") from exc
    if not math.isfinite(score):
        raise ValueError("score is not a finite number")
    return score


def _number(value: Any) -> int | float:
    """A numeric field's value: numbers as they are, CSV text parsed; ``ValueError`` if not finite."""
    if isinstance(value, bool):
        raise ValueError("is not a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"is not a number ({value[:40]!r})") from None
    if not isinstance(value, int | float):
        raise ValueError("is not a number")
    if not math.isfinite(value):
        raise ValueError("is not a finite number")
    return value


def _schema_problems(payload: dict[str, Any], schema: RecordSchema) -> list[tuple[str, str]]:
    """``(field, reason)`` for each way ``payload`` falls short of ``schema``; numeric fields given as
    CSV text are turned into numbers in place, as the scorer's records carry them."""
    problems = []
    for name in schema.required:
        if name != schema.key_field and _missing(payload.get(name)):
            problems.append((name, "is missing or empty"))
    for name in schema.numeric:
        if name in payload and not _missing(payload[name]):
            try:
                payload[name] = _number(payload[name])
            except ValueError as exc:
                problems.append((name, str(exc)))
    return problems


def _check_columns(columns: list[str], schema: RecordSchema | None) -> None:
    if schema is None:
        return
    missing = [name for name in schema.required if name != schema.key_field and name not in columns]
    if missing:
        shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
        raise UploadError(
            f"records of this use case need the column(s) {shown}",
            detail={"missing_fields": missing[:MAX_REASONS], "required": list(schema.required)[:MAX_REASONS]},
        )


def plan_upload(
    frame: pd.DataFrame, label_set: LabelSet, limits: UploadLimits, schema: RecordSchema | None = None
) -> UploadPlan:
    """Check every row of an uploaded frame against the columns, sizes, the use case's record
    ``schema`` (when it has one) and its labels. Row numbers count data rows from 1."""
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    columns = list(frame.columns)
    if len(set(columns)) != len(columns):
        raise UploadError("column names repeat (case-insensitively)")
    if "id" not in columns:
        raise UploadError(f"an 'id' column is required; got {columns[:20]}")
    if len(columns) > limits.max_columns:
        raise _too_large("columns", len(columns), limits.max_columns)
    if len(frame) > limits.max_rows:
        raise _too_large("rows", len(frame), limits.max_rows)
    _check_columns(columns, schema)
    payload_columns = [c for c in columns if c not in RESERVED]
    if not payload_columns:
        raise UploadError("no data columns besides id/label/score (expected at least 'text')")

    plan = UploadPlan(rows=len(frame))
    misfits: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, row in enumerate(frame.to_dict("records"), start=1):
        shown_id = str(row.get("id"))[:80]
        try:
            sid = _sample_id(row["id"])
            if sid in seen:
                raise ValueError("duplicate id in file")
            payload = {c: _plain(row[c]) for c in payload_columns}
            problems = [] if schema is None else _schema_problems(payload, schema)
            if problems:
                misfits += [{"row": number, "id": shown_id, "field": f, "reason": r} for f, r in problems]
                seen.add(sid)
                continue
            if "text" in payload and (not isinstance(payload["text"], str) or not payload["text"].strip()):
                raise ValueError("text is empty")
            if "text" in payload and len(payload["text"]) > MAX_TEXT_CHARS:
                raise ValueError(f"text longer than {MAX_TEXT_CHARS} characters")
            score = _score(row["score"]) if "score" in row and not _missing(row["score"]) else 0.0
            label = None if "label" not in row or _missing(row["label"]) else row["label"]
            value = None if label is None else _label_value(label, label_set)
        except LabelSetError as exc:
            plan.rejected.append({"row": number, "id": shown_id, "reason": f"label: {exc}"})
            continue
        except ValueError as exc:
            plan.rejected.append({"row": number, "id": shown_id, "reason": str(exc)})
            continue
        seen.add(sid)
        sample = {"sample_id": sid, "payload": payload, "score": score, "strategy": "upload"}
        if value is None:
            plan.samples.append(sample)
        else:
            plan.labelled.append((sample, value))
    if misfits:
        first = misfits[0]
        more = f" ({len(misfits) - 1} more problem(s) in detail)" if len(misfits) > 1 else ""
        raise UploadError(
            f"row {first['row']} (id {first['id']!r}): field {first['field']!r} {first['reason']}{more}",
            detail={"problems": misfits[:MAX_REASONS], "count": len(misfits)},
        )
    return plan

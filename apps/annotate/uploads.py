"""Uploaded data files (CSV or Parquet), checked row by row before anything is stored.

The seed project's tagger took ``id,text`` files and a labels file; this keeps that shape. A row
without a label becomes a sample in the queue; a row with one becomes a stored label
(``source="upload"``), so a team can bring in labels made elsewhere. Each bad row is rejected with
its reason and the rest are kept: one stray line should not cost an annotator the whole file, and
the report says exactly what was dropped.
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

MAX_ID_CHARS = 256
MAX_TEXT_CHARS = 20_000
MAX_COLUMNS = 2_000
MAX_REASONS = 100
RESERVED = ("id", "label", "score")


class UploadError(ValueError):
    """The file as a whole cannot be used (unreadable, wrong columns, too many rows)."""


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


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """A CSV or Parquet file as a frame; Parquet is told by its magic bytes, not only its name."""
    name = filename.lower()
    try:
        if data[:4] == b"PAR1" or name.endswith((".parquet", ".pq")):
            return pd.read_parquet(io.BytesIO(data))
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


def plan_upload(frame: pd.DataFrame, label_set: LabelSet, max_rows: int) -> UploadPlan:
    """Check every row of an uploaded frame against the columns, sizes and the use case's labels."""
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    columns = list(frame.columns)
    if len(set(columns)) != len(columns):
        raise UploadError("column names repeat (case-insensitively)")
    if "id" not in columns:
        raise UploadError(f"an 'id' column is required; got {columns[:20]}")
    payload_columns = [c for c in columns if c not in RESERVED]
    if not payload_columns:
        raise UploadError("no data columns besides id/label/score (expected at least 'text')")
    if len(columns) > MAX_COLUMNS:
        raise UploadError(f"at most {MAX_COLUMNS} columns, got {len(columns)}")
    if len(frame) > max_rows:
        raise UploadError(f"at most {max_rows} rows per file, got {len(frame)}")

    plan = UploadPlan(rows=len(frame))
    seen: set[str] = set()
    for number, row in enumerate(frame.to_dict("records"), start=1):
        try:
            sid = _sample_id(row["id"])
            if sid in seen:
                raise ValueError("duplicate id in file")
            payload = {c: _plain(row[c]) for c in payload_columns}
            if "text" in payload and (not isinstance(payload["text"], str) or not payload["text"].strip()):
                raise ValueError("text is empty")
            if "text" in payload and len(payload["text"]) > MAX_TEXT_CHARS:
                raise ValueError(f"text longer than {MAX_TEXT_CHARS} characters")
            score = _score(row["score"]) if "score" in row and not _missing(row["score"]) else 0.0
            label = None if "label" not in row or _missing(row["label"]) else row["label"]
            value = None if label is None else _label_value(label, label_set)
        except LabelSetError as exc:
            plan.rejected.append({"row": number, "id": str(row.get("id"))[:80], "reason": f"label: {exc}"})
            continue
        except ValueError as exc:
            plan.rejected.append({"row": number, "id": str(row.get("id"))[:80], "reason": str(exc)})
            continue
        seen.add(sid)
        sample = {"sample_id": sid, "payload": payload, "score": score, "strategy": "upload"}
        if value is None:
            plan.samples.append(sample)
        else:
            plan.labelled.append((sample, value))
    return plan

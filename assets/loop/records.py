"""Kafka messages → model records, and the offset ranges a scoring batch covers.

A message that cannot be a record (not JSON, not an object, a required field missing or empty, a
numeric field that is not a finite number) is *poison*: it goes to the dead-letter topic with its
reason and the batch goes on. ``rows in = rows scored + rows dead-lettered`` for every batch.

An offset range set is written as a partition key ``p0=100-200,p1=50-150`` (start inclusive, end
exclusive): readable in the UI, and the same ranges always give the same key, so a retried sensor
tick or a re-run scores the same records into the same partition.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Ranges = dict[int, tuple[int, int]]
_PART = re.compile(r"^p(\d+)=(\d+)-(\d+)$")


def ranges_key(ranges: Ranges) -> str:
    parts = [f"p{p}={s}-{e}" for p, (s, e) in sorted(ranges.items()) if e > s]
    if not parts:
        raise ValueError("an offset range set must cover at least one record")
    return ",".join(parts)


def parse_ranges_key(key: str) -> Ranges:
    ranges: Ranges = {}
    for part in key.split(","):
        match = _PART.match(part.strip())
        if not match:
            raise ValueError(f"not an offset range key: {key!r} (expected p<partition>=<start>-<end>,...)")
        partition, start, end = (int(g) for g in match.groups())
        if end <= start or partition in ranges:
            raise ValueError(f"bad offset range {part!r} in {key!r}")
        ranges[partition] = (start, end)
    return ranges


@dataclass(frozen=True)
class RecordSchema:
    """What a use case's records must carry."""

    key_field: str
    required: Sequence[str]
    numeric: Sequence[str] = ()


def parse_message(value: bytes | None, schema: RecordSchema) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` or ``(None, reason)``."""
    if value is None:
        return None, "empty_message"
    try:
        record = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not_json: {exc.__class__.__name__}"
    if not isinstance(record, dict):
        return None, f"not_an_object: {type(record).__name__}"
    missing = [f for f in (schema.key_field, *schema.required) if record.get(f) in (None, "")]
    if missing:
        shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
        return None, f"missing_fields: {shown}"
    for name in schema.numeric:
        value_ = record.get(name)
        if value_ is None:
            continue
        if isinstance(value_, bool) or not isinstance(value_, int | float) or not math.isfinite(value_):
            return None, f"non_numeric: {name}={str(value_)[:40]}"
    return record, None

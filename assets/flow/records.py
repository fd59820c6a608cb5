"""A reading as it arrives on ``flow.readings``: ``series``, ``time``, ``value`` (light: no pandas).

The Kafka key and the predictions' ``key`` are ``reading_id`` = ``<series>@<time>``, made here when
the producer did not send one, so the same reading sent twice is the same record.
"""

from __future__ import annotations

from typing import Any

KEY_FIELD = "reading_id"


def reading_id(series: Any, time: Any) -> str:
    return f"{series}@{time}"


def stream_record(message: dict[str, Any]) -> dict[str, Any]:
    """The record the model scores: the message with its ``reading_id`` (missing fields are left for
    the schema to report)."""
    record = dict(message)
    if (
        record.get(KEY_FIELD) in (None, "")
        and record.get("series") not in (None, "")
        and record.get("time") not in (None, "")
    ):
        record[KEY_FIELD] = reading_id(record["series"], record["time"])
    return record

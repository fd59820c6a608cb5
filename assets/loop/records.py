"""Kafka messages → model records, and the offset ranges a scoring batch covers.

A message that cannot be a record (not JSON, not an object, a required field missing or empty, a
numeric field that is not a finite number) is *poison*: it goes to the dead-letter topic with its
reason and the batch goes on. ``rows in = rows scored + rows dead-lettered`` for every batch.

An offset range set is written as a partition key ``p0=100-200,p1=50-150`` (start inclusive, end
exclusive): readable in the UI, and the same ranges always give the same key, so a retried sensor
tick or a re-run scores the same records into the same partition. The key starts with the topic's
id (``3f9a2b1c:p0=100-200``): a topic deleted and created again starts over at offset 0, and its
``p0=0-100`` must never overwrite the old topic's rows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Ranges = dict[int, tuple[int, int]]
#: Prefix of the predictions table's probability columns (``proba__<class>``).
PROBA_PREFIX = "proba__"
_PART = re.compile(r"^p(\d+)=(\d+)-(\d+)$")
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: Characters of the topic id a key carries (enough to tell a recreated topic from the old one).
TOPIC_TAG_LENGTH = 12


def topic_tag(topic_id: str | None) -> str | None:
    """The short form of a topic id that partition keys carry."""
    return topic_id.replace("-", "")[:TOPIC_TAG_LENGTH] if topic_id else None


def ranges_key(ranges: Ranges, topic_id: str | None = None) -> str:
    """``<topic tag>:p0=100-200,p1=50-150`` (no tag when the topic id is unknown)."""
    parts = [f"p{p}={s}-{e}" for p, (s, e) in sorted(ranges.items()) if e > s]
    if not parts:
        raise ValueError("an offset range set must cover at least one record")
    tag = topic_tag(topic_id)
    return (f"{tag}:" if tag else "") + ",".join(parts)


def key_topic_tag(key: str) -> str | None:
    """The topic tag a partition key carries, or None for a key without one."""
    tag, sep, _rest = key.partition(":")
    return tag if sep else None


def parse_ranges_key(key: str) -> Ranges:
    tag, sep, body = key.partition(":")
    if not sep:
        body = key
    elif not _TOPIC.match(tag):
        raise ValueError(f"not an offset range key: {key!r} (bad topic tag {tag!r})")
    ranges: Ranges = {}
    for part in body.split(","):
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
    """What a use case's records must carry.

    ``prepare`` (a lazy reference ``"module:function"``) turns a message as it arrives into the record
    the model scores, the same way training read it (tweets: the full text of ``extended_tweet`` /
    ``full_text`` / the retweeted status, not the truncated ``text``); it raises ``ValueError`` for a
    message that is not a record. Scoring and the annotation queue both go through it, so the
    annotator labels exactly the text the model scored.
    """

    key_field: str
    required: Sequence[str]
    numeric: Sequence[str] = ()
    prepare: str | None = None


@lru_cache(maxsize=16)
def _prepare_function(target: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    from assets.lazy import resolve

    return resolve(target)


def prepare_record(record: dict[str, Any], schema: RecordSchema) -> dict[str, Any]:
    """The record the model scores (``schema.prepare`` applied, if any)."""
    return _prepare_function(schema.prepare)(record) if schema.prepare else record


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
    if schema.prepare:
        try:
            record = prepare_record(record, schema)
        except ValueError as exc:
            return None, f"not_a_record: {str(exc)[:80]}"
        except Exception as exc:  # noqa: BLE001 - any failure of one record is that record's (e.g.
            # Pillow's DecompressionBombError on a decoded image): dead-lettered, never the batch's
            return None, f"not_a_record: {type(exc).__name__}: {str(exc)[:80]}"
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

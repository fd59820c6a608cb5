"""Landing files under ``<landing>/tweets/`` → parsed tweets, hand-labelled rows, unlabelled rows, quarantine.

Two kinds of file land there, and the shared folder ``../shared/data/tweets`` copied as it is must work:

- raw Twitter v1.1 JSON (``.json``: one object, an array, or JSON lines; ``.jsonl``/``.ndjson``): each
  object becomes one parsed tweet (:func:`parse_tweet`); stream notices (``delete``, ``limit``...) and
  malformed objects are quarantined with their reason. An object carrying a ``label`` key is an exported
  annotation, read like a table row.
- tables (``.parquet``, ``.csv``) of ``id,text[,label]``: rows with a 0/1 label feed the hand-labelled
  sets, rows without one the labeling-function set.

Anything else (``LICENSE``, ``README.md``) is not a landing file: :func:`is_landing_file` says so and
:func:`read_landing_file` refuses it. Ids are kept as strings: tweet ids exceed 2**53 and lose digits
as floats (CSV readers, JavaScript). Ids of the seed's tables are row numbers that repeat across files,
so :func:`content_hash` (of :func:`normalize_text`), not ``id``, is the key for duplicates and splits.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

TWEET_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "text",
    "source",
    "lang",
    "urls",
    "media_urls",
    "hashtags",
    "user",
    "is_retweet",
    "content_hash",
    "origin",
)
TEXT_COLUMNS: tuple[str, ...] = ("id", "text", "content_hash", "origin")
LABELLED_COLUMNS: tuple[str, ...] = ("id", "text", "label", "content_hash", "origin")
QUARANTINE_COLUMNS: tuple[str, ...] = ("origin", "position", "id", "reason", "record")
JSON_SUFFIXES: tuple[str, ...] = (".json", ".jsonl", ".ndjson")
TABLE_SUFFIXES: tuple[str, ...] = (".parquet", ".csv")
#: Top-level keys of streaming-API messages that are not tweets.
_STREAM_NOTICES = (
    "delete",
    "limit",
    "scrub_geo",
    "status_withheld",
    "user_withheld",
    "disconnect",
    "warning",
)
#: The link Twitter appends to a truncated text, pointing at the tweet itself: not content.
_SELF_LINK = re.compile(r"^https?://(www\.)?twitter\.com/i/web/status/", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_URL = re.compile(r"https?://\S+|\bwww\.\S+", re.IGNORECASE)
_RETWEET_PREFIX = re.compile(r"^\s*RT\s+@\w+:\s*", re.IGNORECASE)
_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff]")
_SPACE = re.compile(r"\s+")
_RECORD_CHARS = 2_000


@dataclass(frozen=True)
class LandingBatch:
    """What one or more landing files hold, each frame with a fixed schema (also when empty).

    ``tweets``: :data:`TWEET_COLUMNS`; ``labelled``: :data:`LABELLED_COLUMNS` (``label`` 0/1);
    ``unlabelled``: :data:`TEXT_COLUMNS`; ``quarantined``: :data:`QUARANTINE_COLUMNS`.
    """

    tweets: pd.DataFrame
    labelled: pd.DataFrame
    unlabelled: pd.DataFrame
    quarantined: pd.DataFrame

    def counts(self) -> dict[str, int]:
        return {
            "tweets": len(self.tweets),
            "labelled": len(self.labelled),
            "unlabelled": len(self.unlabelled),
            "quarantined": len(self.quarantined),
        }


def normalize_text(text: str) -> str:
    """The text two tweets share when they say the same thing: HTML entities decoded, Unicode NFKC,
    the ``RT @user:`` prefix, links (t.co links differ between copies of one text), invisible
    characters and case dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = _URL.sub(" ", _RETWEET_PREFIX.sub("", text))
    return _SPACE.sub(" ", _INVISIBLE.sub("", text).casefold()).strip()


def content_hash(text: str) -> str:
    """16 hex digits of SHA-1 over :func:`normalize_text`; a text that normalizes to nothing (a bare
    link) hashes as it is, so such tweets do not all collapse into one."""
    key = normalize_text(text) or text.strip()
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _id_string(value: Any) -> str | None:
    """An id as text; integral floats (CSV, pandas NaN-able columns) lose their ``.0``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip()
    return text or None


def _created_at(value: Any, timestamp_ms: Any) -> pd.Timestamp | None:
    """v1.1's ``Sun Apr 05 10:46:45 +0000 2020`` (or ISO 8601) in UTC; ``timestamp_ms`` if absent."""
    if value in (None, ""):
        if timestamp_ms in (None, ""):
            return None
        try:
            return pd.Timestamp(int(timestamp_ms), unit="ms", tz=UTC)
        except (TypeError, ValueError) as error:
            raise ValueError(f"unparseable timestamp_ms {timestamp_ms!r}") from error
    try:
        return pd.Timestamp(datetime.strptime(str(value), "%a %b %d %H:%M:%S %z %Y")).tz_convert(UTC)
    except ValueError:
        pass
    try:
        stamp = pd.Timestamp(str(value))  # ISO 8601, as v2 and most exports write it
    except ValueError as error:
        raise ValueError(f"unparseable created_at {value!r}") from error
    if pd.isna(stamp):
        return None
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _full_text(status: dict) -> tuple[str | None, dict, dict]:
    """The untruncated text of a status with the entities that index into it: ``extended_tweet``
    (streaming API) first, then ``full_text`` (REST, ``tweet_mode=extended``), then ``text``."""
    extended = _dict(status.get("extended_tweet"))
    if isinstance(extended.get("full_text"), str):
        return (
            extended["full_text"],
            _dict(extended.get("entities")),
            _dict(extended.get("extended_entities")),
        )
    text = status.get("full_text") if isinstance(status.get("full_text"), str) else status.get("text")
    return (
        text if isinstance(text, str) else None,
        _dict(status.get("entities")),
        _dict(status.get("extended_entities")),
    )


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def parse_tweet(obj: Any) -> dict[str, Any]:
    """One Twitter v1.1 tweet object → a row of :data:`TWEET_COLUMNS` (without ``origin``).

    A retweet's text is the retweeted tweet's full text (the top-level one is cut to 140 characters
    behind ``RT @user:``), with that tweet's links, media and hashtags; ``user`` is who posted this
    object. ``urls`` are expanded and exclude Twitter's link to the truncated tweet itself.
    Raises ``ValueError`` saying why when ``obj`` is not a usable tweet.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"not a JSON object but {type(obj).__name__}")
    notices = [key for key in _STREAM_NOTICES if key in obj]
    if notices and "text" not in obj and "full_text" not in obj:
        raise ValueError(f"stream notice '{notices[0]}', not a tweet")
    tweet_id = _id_string(obj.get("id_str")) or _id_string(obj.get("id"))
    if tweet_id is None:
        raise ValueError("missing id_str and id")
    retweeted = _dict(obj.get("retweeted_status"))
    text, entities, extended_entities = _full_text(retweeted or obj)
    if text is None and retweeted:  # a retweet whose embedded status lacks text: keep what we have
        text, entities, extended_entities = _full_text(obj)
    if text is None or not text.strip():
        raise ValueError("missing text")
    urls = [_dict(u).get("expanded_url") or _dict(u).get("url") for u in _list(entities.get("urls"))]
    media = _list(extended_entities.get("media")) or _list(entities.get("media"))
    source = obj.get("source")
    return {
        "id": tweet_id,
        "created_at": _created_at(obj.get("created_at"), obj.get("timestamp_ms")),
        "text": text,
        "source": (_TAG.sub("", source).strip() or None) if isinstance(source, str) else None,
        "lang": obj.get("lang") if isinstance(obj.get("lang"), str) else None,
        "urls": [u for u in _unique([str(u) for u in urls if u]) if not _SELF_LINK.match(u)],
        "media_urls": _unique(
            [str(_dict(m).get("media_url_https") or _dict(m).get("media_url") or "") for m in media]
        ),
        "hashtags": _unique([str(_dict(h).get("text") or "") for h in _list(entities.get("hashtags"))]),
        "user": _dict(obj.get("user")).get("screen_name"),
        "is_retweet": bool(retweeted),
        "content_hash": content_hash(text),
    }


def stream_record(obj: Any) -> dict[str, Any]:
    """A tweet as it arrives on ``tweets.raw`` → the record the classifier scores, read exactly as
    training read landed tweets (:func:`parse_tweet`: the full text of ``extended_tweet``,
    ``full_text`` or the retweeted status, never the truncated ``text``). Raises ``ValueError`` for a
    message that is not a usable tweet (a stream notice, no id, no text)."""
    row = parse_tweet(obj)
    created = row["created_at"]
    return {
        "id_str": row["id"],
        "text": row["text"],
        "user": row["user"],
        "created_at": created.isoformat() if created is not None else None,
        "urls": row["urls"],
    }


def parse_label(value: Any) -> int | None:
    """A hand label as 0/1; ``None`` when there is none (empty, NaN). Raises ``ValueError`` otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        stripped = value.strip().lower()
        if stripped == "":
            return None
        mapped = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}.get(stripped)
        if mapped is None:
            raise ValueError(f"label {value!r} is not 0 or 1")
        return mapped
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"label {value!r} is not 0 or 1") from error
    if number not in (0.0, 1.0):
        raise ValueError(f"label {value!r} is not 0 or 1")
    return int(number)


def is_landing_file(name: str) -> bool:
    """True for the files :func:`read_landing_file` reads (by suffix); the rest (LICENSE...) is skipped."""
    return name.lower().endswith(JSON_SUFFIXES + TABLE_SUFFIXES)


def _quarantine(origin: str, position: int, record: Any, reason: str, record_id: str | None = None) -> dict:
    try:
        text = record if isinstance(record, str) else json.dumps(record, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(record)
    if record_id is None and isinstance(record, dict):
        record_id = _id_string(record.get("id_str")) or _id_string(record.get("id"))
    return {
        "origin": origin,
        "position": position,
        "id": record_id,
        "reason": reason,
        "record": text[:_RECORD_CHARS],
    }


def _json_records(text: str) -> Iterator[tuple[int, Any, str | None]]:
    """(position, object, error) for a whole-file JSON value (object or array) or, failing that,
    JSON lines; positions are 1-based (array index or line number)."""
    stripped = text.strip()
    if not stripped:
        yield 1, None, "empty file"
        return
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        pass
    else:
        yield from ((i, v, None) for i, v in enumerate(value if isinstance(value, list) else [value], 1))
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield number, json.loads(line), None
            except json.JSONDecodeError as error:
                yield number, line, f"invalid JSON: {error.msg}"


def _table_row(row: dict[str, Any], origin: str) -> tuple[str, dict[str, Any]]:
    """A table row (or annotation JSON object) → ('labelled' | 'unlabelled', row). Raises ValueError."""
    row_id = _id_string(row.get("id_str")) or _id_string(row.get("id"))
    if row_id is None:
        raise ValueError("missing id")
    text = row.get("full_text") if isinstance(row.get("full_text"), str) else row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("missing text")
    label = parse_label(row.get("label"))
    out = {"id": row_id, "text": text, "content_hash": content_hash(text), "origin": origin}
    return ("unlabelled", out) if label is None else ("labelled", {**out, "label": label})


def _frame(rows: list[dict], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    if "created_at" in frame.columns:
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    if "label" in frame.columns:
        frame["label"] = frame["label"].astype("int64")
    if "position" in frame.columns:
        frame["position"] = frame["position"].astype("int64")
    if "is_retweet" in frame.columns:
        frame["is_retweet"] = frame["is_retweet"].astype(bool)
    return frame


def _read_table(source: Path | io.BytesIO, suffix: str) -> pd.DataFrame:
    if suffix == ".parquet":
        return pd.read_parquet(source)
    # Everything as text: ids stay exact; empty cells are missing, the text "NA" is not.
    return pd.read_csv(source, dtype=str, keep_default_na=False).replace({"": None})


def _read_json(raw: bytes, origin: str, rows: dict[str, list[dict]]) -> None:
    """Sort a JSON file's records into ``rows`` (tweets, annotation rows, quarantine)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        rows["quarantined"].append(_quarantine(origin, 1, repr(raw[:200]), f"not UTF-8: {error}"))
        return
    for position, record, error in _json_records(text):
        if error is not None:
            rows["quarantined"].append(_quarantine(origin, position, record or "", error))
            continue
        try:
            if isinstance(record, dict) and "label" in record and "user" not in record:
                kind, row = _table_row(record, origin)
                rows[kind].append(row)
            else:
                rows["tweets"].append({**parse_tweet(record), "origin": origin})
        except ValueError as problem:
            rows["quarantined"].append(_quarantine(origin, position, record, str(problem)))


Rows = dict[str, list[dict]]


def _collect(path: Path, data: bytes | None, origin: str, rows: Rows) -> None:
    """Append one file's records to ``rows``; raises ValueError when it is not a landing file."""
    if not is_landing_file(path.name):
        raise ValueError(
            f"{path.name}: not a tweets landing file (expected {JSON_SUFFIXES + TABLE_SUFFIXES})"
        )
    if path.suffix.lower() in JSON_SUFFIXES:
        _read_json(data if data is not None else path.read_bytes(), origin, rows)
        return
    table = _read_table(io.BytesIO(data) if data is not None else path, path.suffix.lower())
    for position, record in enumerate(table.to_dict("records"), 1):
        try:
            kind, row = _table_row(record, origin)
            rows[kind].append(row)
        except ValueError as problem:
            rows["quarantined"].append(_quarantine(origin, position, record, str(problem)))


def _batch(rows: Rows) -> LandingBatch:
    return LandingBatch(
        tweets=_frame(rows["tweets"], TWEET_COLUMNS),
        labelled=_frame(rows["labelled"], LABELLED_COLUMNS),
        unlabelled=_frame(rows["unlabelled"], TEXT_COLUMNS),
        quarantined=_frame(rows["quarantined"], QUARANTINE_COLUMNS),
    )


def _empty_rows() -> Rows:
    return {"tweets": [], "labelled": [], "unlabelled": [], "quarantined": []}


def read_landing_file(path: str | Path, data: bytes | None = None, origin: str | None = None) -> LandingBatch:
    """Read one landing file into a :class:`LandingBatch`.

    ``data`` gives the bytes when they do not come from ``path`` (an S3 object read by the object
    store); the format is told by ``path``'s suffix. ``origin`` (default: the file name) is recorded on
    every row, so a quarantined record can be traced to its file. Raises ``ValueError`` for a file that
    is not a landing file (see :func:`is_landing_file`); problems inside a file are quarantined instead.
    """
    path = Path(path)
    rows = _empty_rows()
    _collect(path, data, origin or path.name, rows)
    return _batch(rows)


def read_landing_files(
    keys: Iterable[str | Path], read_bytes: Callable[[str], bytes] | None = None
) -> LandingBatch:
    """Many landing files as one batch, each row's ``origin`` its key; keys that are not landing files
    (LICENSE, README.md) are skipped. ``read_bytes`` fetches a key's bytes (e.g. the object store's
    ``read_bytes``); by default keys are local paths. One batch is built at the end: a thousand
    one-tweet files cost a thousand small frames otherwise (seconds instead of a fraction of one)."""
    rows = _empty_rows()
    for key in keys:
        name = str(key)
        if is_landing_file(Path(name).name):
            _collect(Path(name), read_bytes(name) if read_bytes else None, name, rows)
    return _batch(rows)


def read_landing_folder(folder: str | Path) -> LandingBatch:
    """Every landing file under a local ``folder`` (recursively, sorted, so results never depend on
    listing order), ``origin`` relative to ``folder``. For local landings and tests."""
    folder = Path(folder)
    keys = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return read_landing_files(keys, lambda key: (folder / key).read_bytes())


def combine(batches: list[LandingBatch]) -> LandingBatch:
    """Many batches as one (schemas kept when every batch is empty)."""

    def cat(name: str, columns: tuple[str, ...]) -> pd.DataFrame:
        frames = [getattr(b, name) for b in batches if len(getattr(b, name))]
        return pd.concat(frames, ignore_index=True) if frames else _frame([], columns)

    return LandingBatch(
        tweets=cat("tweets", TWEET_COLUMNS),
        labelled=cat("labelled", LABELLED_COLUMNS),
        unlabelled=cat("unlabelled", TEXT_COLUMNS),
        quarantined=cat("quarantined", QUARANTINE_COLUMNS),
    )


def dedupe(frame: pd.DataFrame, key: str = "content_hash") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, dropped): the first row of each normalized text is kept, in ``frame``'s order (sort it
    first to choose which copy survives); ``dropped`` has ``duplicate_of``, the kept row's id."""
    duplicated = frame.duplicated(subset=[key], keep="first")
    kept = frame[~duplicated].reset_index(drop=True)
    dropped = frame[duplicated].reset_index(drop=True)
    first_id = kept.set_index(key)["id"] if "id" in kept.columns else None
    dropped = dropped.assign(
        duplicate_of=dropped[key].map(first_id) if first_id is not None else dropped[key]
    )
    return kept, dropped

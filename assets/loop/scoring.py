"""Scoring one batch of Kafka messages with the champion: plain functions, no Dagster.

``<uc>_scored_batch`` (``assets/loop/factory.py``) wires these together. They hold what makes a batch
fast at 100k records: the champion is loaded once per process and version (``load_champion``), the
predictions frame is built column by column, the stored ``record`` is the message's own JSON (not a
re-serialisation), and the messages published to ``<uc>.predictions`` are produced by pandas' JSON
writer in one call instead of a ``dict`` + ``json.dumps`` per record.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assets.loop.records import PROBA_PREFIX, RecordSchema, parse_message
from orchestration.settings import get_settings
from resources.kafka import KafkaRecord, MissingRange

#: What each message on ``<uc>.predictions`` carries (the full probabilities stay in the table).
PUBLISHED_COLUMNS = (
    "key",
    "topic",
    "partition",
    "offset",
    "model_version",
    "prediction",
    "confidence",
    "produced_at",
    "scored_at",
)
#: Columns of every predictions partition, besides one ``proba__<class>`` per class.
PREDICTION_COLUMNS = (*PUBLISHED_COLUMNS, "record")
#: A dead-letter row is one poison message (``offset == last_offset``) or one range of offsets the
#: log no longer held when the batch was read (``expired``: retention; ``gap``: compaction or
#: transaction markers; ``value`` holds the range).
DEADLETTER_COLUMNS = ("topic", "partition", "offset", "last_offset", "key", "reason", "value")

_champions: dict[tuple[str, str, str], Any] = {}
_champions_lock = threading.Lock()
#: The last predictions frames this process wrote, by path: the annotation step of the same run
#: (in-process executor) takes the frame from here instead of reading the file back.
_recent_predictions: dict[str, tuple[int, pd.DataFrame]] = {}
_RECENT_LIMIT = 2


def load_champion(tracking_uri: str, use_case: str, version: str, artifact_uri: str | None = None) -> Any:
    """The pyfunc of ``models:/<use_case>/<version>`` (from ``artifact_uri`` when known: no registry
    round trip), loaded once per process and version.

    A registered version never changes, so a long-lived process (the code server's run workers,
    ``execute_in_process`` in tests and benchmarks) pays MLflow's load — seconds for a TF-IDF model
    — once per champion, not once per batch.
    """
    key = (tracking_uri, use_case, str(version))
    with _champions_lock:
        if key not in _champions:
            import mlflow

            mlflow.set_tracking_uri(tracking_uri)
            _champions[key] = mlflow.pyfunc.load_model(artifact_uri or f"models:/{use_case}/{version}")
        return _champions[key]


def cached_champions() -> list[tuple[str, str]]:
    """``(use_case, version)`` of every champion this process holds (for tests and metadata)."""
    return [(uc, v) for _uri, uc, v in _champions]


@dataclass
class ScoredBatch:
    """What one offset range became: a row per scored record, a row per poison message."""

    predictions: pd.DataFrame
    deadletter: pd.DataFrame
    rows_in: int
    score_seconds: float

    def latency(self) -> pd.Series:
        """Produce → prediction seconds per scored record."""
        if not len(self.predictions):
            return pd.Series([], dtype=float)
        return self.predictions["scored_at"] - self.predictions["produced_at"]


def split_messages(
    messages: Sequence[KafkaRecord], schema: RecordSchema
) -> tuple[list[tuple[KafkaRecord, dict[str, Any]]], list[tuple[KafkaRecord, str]]]:
    """Messages that are records, and poison ones with their reason."""
    good: list[tuple[KafkaRecord, dict[str, Any]]] = []
    poison: list[tuple[KafkaRecord, str]] = []
    for message in messages:
        record, reason = parse_message(message.value, schema)
        if record is not None:
            good.append((message, record))
        else:
            poison.append((message, str(reason)))
    return good, poison


def _prediction_texts(values: Iterable[Any]) -> list[str]:
    """Predictions as text: a class name as it is, a multi-label set as a JSON list. Label sets
    repeat (most messages get one of a few dozen), so each distinct set is encoded once."""
    encoded: dict[tuple[str, ...], str] = {}
    out: list[str] = []
    for v in values:
        if isinstance(v, list | tuple | np.ndarray):
            labels = tuple(str(label) for label in v)
            text = encoded.get(labels)
            if text is None:
                text = encoded[labels] = json.dumps(list(labels))
            out.append(text)
        else:
            out.append(str(v))
    return out


def confidence(proba: np.ndarray, multilabel: bool) -> np.ndarray:
    """How sure the model is of each answer: the top class's probability (multi-class), or the mean
    over labels of the probability of the side it chose (multi-label)."""
    if proba.size == 0:
        return np.zeros(len(proba))
    if multilabel:
        return np.maximum(proba, 1.0 - proba).mean(axis=1)
    return proba.max(axis=1)


def predict_isolating(
    score: Any, good: list[tuple[KafkaRecord, dict[str, Any]]]
) -> tuple[
    list[tuple[KafkaRecord, dict[str, Any]]], pd.DataFrame, pd.DataFrame, list[tuple[KafkaRecord, str]]
]:
    """``score(frame)`` on the records; when it raises, the batch is halved until the records that
    make it fail are alone, and only those are returned as failed (``predict_failed: <error>``), so
    one bad record no longer fails (and, rescored, stalls) its whole batch. A few bad records among
    n cost about ``bad * log2(n)`` extra calls; a clean batch, one call. When *every* record fails
    alone the fault is not in the records (a model or store that cannot answer): the first error is
    raised, the run fails and is retried, and nothing is dead-lettered for it.
    Returns (scored records, their frame, their output rows in order, failed records with reasons):
    a clean batch's frame is built once, here."""
    if not good:
        return [], pd.DataFrame(), pd.DataFrame(), []
    frame = pd.DataFrame([r for _m, r in good])
    try:
        return good, frame, score(frame).reset_index(drop=True), []
    except Exception as first:
        middle = len(good) // 2
        kept, outputs, failed = _isolate(score, good[:middle])
        more = _isolate(score, good[middle:])
        kept, outputs, failed = kept + more[0], outputs + more[1], failed + more[2]
        if not kept:
            raise first
        kept_frame = pd.DataFrame([r for _m, r in kept])
        return kept, kept_frame, pd.concat(outputs, ignore_index=True), failed


def _isolate(score: Any, good: list) -> tuple[list, list[pd.DataFrame], list]:
    """(scored records, their outputs, failed records) of ``good``, halving where ``score`` raises."""
    try:
        return good, [score(pd.DataFrame([r for _m, r in good])).reset_index(drop=True)], []
    except Exception as exc:  # noqa: BLE001 - a record's content; narrowed down by halving
        if len(good) == 1:
            return [], [], [(good[0][0], f"predict_failed: {type(exc).__name__}: {str(exc)[:120]}")]
        left, right = _isolate(score, good[: len(good) // 2]), _isolate(score, good[len(good) // 2 :])
        return left[0] + right[0], left[1] + right[1], left[2] + right[2]


def score_messages(
    messages: Sequence[KafkaRecord],
    schema: RecordSchema,
    model: Any,
    version: str,
    topic: str,
    missing: Sequence[MissingRange] = (),
    predict: Any = None,
) -> ScoredBatch:
    """Dead-letter poison messages (and the ``missing`` ranges of the read), score the rest with
    ``model`` (a loaded pyfunc), or with ``predict(records)`` when given (one output row per record,
    e.g. scored from the records' history: ``LoopSpec.history_scorer``)."""
    started = time.time()
    good, poison = split_messages(messages, schema)
    # The fixed columns even when every message was poison, so the table always reads the same.
    predictions = pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    score = predict if predict is not None else model.predict
    good, frame, output, failed = predict_isolating(score, good)
    poison += failed
    if good:
        kept = [message for message, _record in good]
        scored_at = time.time()
        # One transposition of the kept messages (tuples) instead of a loop per column.
        _topics, partitions, offsets, _keys, values, stamps = zip(*kept, strict=True)
        labels = [c for c in output.columns if c != "prediction"]
        columns: dict[str, Any] = {
            "key": frame[schema.key_field].astype(str).to_numpy(),
            "topic": topic,
            "partition": np.array(partitions, dtype=np.int64),
            "offset": np.array(offsets, dtype=np.int64),
            "model_version": version,
            "prediction": _prediction_texts(output["prediction"]),
        }
        proba = output[labels].to_numpy(dtype=float)
        columns.update({f"{PROBA_PREFIX}{c}": proba[:, j] for j, c in enumerate(labels)})
        multilabel = len(output) > 0 and isinstance(output["prediction"].iat[0], list | tuple | np.ndarray)
        columns["confidence"] = confidence(proba, multilabel)
        columns["produced_at"] = np.array(stamps, dtype=np.float64) / 1000.0
        columns["scored_at"] = scored_at
        # The message's own JSON: what arrived, byte for byte (and no re-serialisation per record).
        columns["record"] = [v.decode("utf-8", errors="replace") for v in values]
        predictions = pd.DataFrame(columns)
    deadletter = pd.DataFrame(
        {
            "topic": topic,
            "partition": [m.partition for m, _r in poison] + [g.partition for g in missing],
            "offset": [m.offset for m, _r in poison] + [g.start for g in missing],
            "last_offset": [m.offset for m, _r in poison] + [g.end - 1 for g in missing],
            "key": [m.key for m, _r in poison] + [None] * len(missing),
            "reason": [r for _m, r in poison] + [g.reason for g in missing],
            "value": [(m.value or b"").decode("utf-8", errors="replace")[:10_000] for m, _r in poison]
            + [f"p{g.partition}={g.start}-{g.end} ({g.end - g.start} offsets)" for g in missing],
        },
        columns=list(DEADLETTER_COLUMNS),
    )
    return ScoredBatch(predictions, deadletter, len(messages), time.time() - started)


def keyed_json_lines(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[list[bytes], list[bytes]]:
    """Kafka keys (``<topic>:<partition>:<offset>`` of the record scored) and JSON values for every
    row, built by pandas in one go. Values carry an ``id`` equal to the key, then ``columns``.

    Output topics are compacted and delivery is at least once: a re-run publishes the same keys
    again, and a consumer of the compacted topic sees one value per record.
    """
    if not len(frame):
        return [], []
    ids = (
        frame["topic"].astype(str) + ":" + frame["partition"].astype(str) + ":" + frame["offset"].astype(str)
    )
    body = frame[[c for c in columns if c in frame.columns]]
    body.insert(0, "id", ids.to_numpy())
    lines = body.to_json(orient="records", lines=True, date_format="iso", default_handler=str)
    values = [line.encode() for line in lines.splitlines()]
    return [i.encode() for i in ids], values


def tables(use_case: str, name: str) -> Path:
    return get_settings().data_dir("tables", use_case, name)


def batch_slot(partition_key: str) -> str:
    """A folder name for an offset-range key (no ``=``, which would read as a Hive partition)."""
    return partition_key.replace("=", "_").replace(",", "+").replace(":", "@")


def write_partition(frame: pd.DataFrame, use_case: str, name: str, slot: str) -> Path:
    """Replace ``tables/<uc>/<name>/batch=<slot>/part-0.parquet`` atomically."""
    folder = tables(use_case, name) / f"batch={slot}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-0.parquet"
    tmp = folder / ".part-0.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)  # atomic: a re-run replaces the partition, a crash never leaves half a file
    if name == "predictions":
        remember_predictions(path, frame)
    return path


def remember_predictions(path: Path, frame: pd.DataFrame) -> None:
    _recent_predictions[str(path)] = (path.stat().st_mtime_ns, frame)
    while len(_recent_predictions) > _RECENT_LIMIT:
        _recent_predictions.pop(next(iter(_recent_predictions)))


def read_predictions(path: str) -> pd.DataFrame:
    """A predictions partition: from memory when this process wrote the file as it is now, else read."""
    remembered = _recent_predictions.get(str(path))
    if remembered is not None and remembered[0] == Path(path).stat().st_mtime_ns:
        return remembered[1]
    return pd.read_parquet(path)


def predictions_table(use_case: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Every scored record so far (one row per topic offset), for dashboards, tests and benchmarks;
    ``columns`` reads only those (the probability and record columns are most of the bytes)."""
    root = tables(use_case, "predictions")
    files = sorted(root.glob("batch=*/*.parquet"))
    if not files:
        return pd.DataFrame(columns=columns)
    return pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)

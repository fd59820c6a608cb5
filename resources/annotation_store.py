"""The annotation store: samples queued for people to label, and the labels they give.

SQLAlchemy Core over ``FLYWHEEL_DATABASE_URL`` (a SQLite file under ``FLYWHEEL_HOME`` by default;
a ``postgresql://`` URL works unchanged). Labels are never deleted: an undo stamps ``undone_at``,
so the history of who labelled what, and when, stays auditable.

A queued sample may carry the champion's suggestion (``{"prediction", "probabilities"}``), which the
page pre-selects. Each label made on the page then records which model version suggested what and
whether the annotator accepted it unchanged, so how often people just confirm the model (and where
they correct it) can be measured.

Columns added after a database was first created are nullable and added on open (``ALTER TABLE ...
ADD COLUMN``), so an older database keeps working without a migration tool.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

queue_table = sa.Table(
    "annotation_queue",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("use_case", sa.String(64), nullable=False),
    sa.Column("sample_id", sa.String(256), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("score", sa.Float, nullable=False, default=0.0),
    sa.Column("strategy", sa.String(32), nullable=True),
    sa.Column("model_version", sa.String(32), nullable=True),
    sa.Column("suggestion", sa.Text, nullable=True),  # JSON {"prediction", "probabilities"}
    sa.Column("status", sa.String(16), nullable=False, default="queued"),
    sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("use_case", "sample_id", name="uq_queue_sample"),
)

labels_table = sa.Table(
    "annotation_labels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("use_case", sa.String(64), nullable=False, index=True),
    sa.Column("sample_id", sa.String(256), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("annotator", sa.String(128), nullable=False),
    sa.Column("source", sa.String(32), nullable=False, default="page"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
    # the suggestion shown when the label was made (all three None when there was none)
    sa.Column("suggested_by_version", sa.String(32), nullable=True),
    sa.Column("suggested_label", sa.Text, nullable=True),  # JSON, as the label
    sa.Column("accepted_suggestion", sa.Boolean, nullable=True),
)

QUEUED, LABELLED, SKIPPED = "queued", "labelled", "skipped"


def _now() -> datetime:
    return datetime.now(UTC)


def _add_missing_columns(engine: sa.Engine) -> None:
    """Add the columns a database created by an older version lacks (all of them nullable).

    Two processes opening the same old database at once may both try; the loser's error is
    ignored once the column is seen to exist.
    """
    quote = engine.dialect.identifier_preparer.quote
    for table in metadata.sorted_tables:
        present = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable or column.primary_key:
                raise RuntimeError(f"cannot add required column {table.name}.{column.name} on open")
            ddl = (
                f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} "
                f"{column.type.compile(dialect=engine.dialect)}"
            )
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(ddl))
            except sa.exc.DBAPIError:
                if column.name not in {c["name"] for c in sa.inspect(engine).get_columns(table.name)}:
                    raise


def _label_name(value: Any) -> str:
    if isinstance(value, str):
        return str(value)  # numpy's str_ too
    if isinstance(value, Integral) and not isinstance(value, bool):
        return str(int(value))  # class ids such as 0/1 are stored as the labels "0"/"1"
    raise ValueError(f"a suggested label must be a string, got {type(value).__name__}")


def normalize_suggestion(raw: Any) -> dict[str, Any] | None:
    """A sample's ``suggestion`` as stored: ``{"prediction": str | [str], "probabilities": {str: float}}``.

    ``None`` stays ``None`` (no suggestion). Numpy scalars and arrays are turned into plain values,
    integer class ids into their names (``1`` → ``"1"``); probabilities that are not finite numbers
    are dropped (JSON has no NaN); other keys are ignored. A malformed suggestion (no prediction, a
    label that is not a string, a probability that is not a number) is a bug in its producer and
    raises :class:`ValueError` before anything is queued.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or "prediction" not in raw:
        raise ValueError("a suggestion must be a mapping with a 'prediction' (and 'probabilities')")
    prediction = raw["prediction"]
    if hasattr(prediction, "tolist") and not isinstance(prediction, str):
        prediction = prediction.tolist()
    if isinstance(prediction, (list, tuple)):
        prediction = list(dict.fromkeys(_label_name(p) for p in prediction))
    else:
        prediction = _label_name(prediction)
    probabilities: dict[str, float] = {}
    given = raw.get("probabilities") or {}
    if not isinstance(given, Mapping):
        raise ValueError("suggestion probabilities must be a mapping of label to probability")
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ValueError(f"probability of {name!r} must be a number")
        if math.isfinite(float(value)):
            probabilities[_label_name(name)] = float(value)
    return {"prediction": prediction, "probabilities": probabilities}


def same_label(label: Any, suggested: Any) -> bool:
    """Whether a given label is the suggestion unchanged (multi-label: the same set of labels)."""

    def as_set(value: Any) -> frozenset[Any]:
        return frozenset(value) if isinstance(value, list) else frozenset([value])

    return as_set(label) == as_set(suggested)


class AnnotationStore:
    """Plain store used by assets, the annotation page and tests."""

    def __init__(self, database_url: str):
        if database_url.startswith("sqlite:///"):
            Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(database_url, future=True)
        metadata.create_all(self.engine)
        _add_missing_columns(self.engine)

    # -- queue ---------------------------------------------------------------------------------
    def enqueue(self, use_case: str, samples: list[dict[str, Any]]) -> int:
        """Queue samples: ``sample_id``, ``payload``, ``score``, optional ``strategy``, ``model_version``
        and ``suggestion`` (``{"prediction": label | [labels], "probabilities": {label: p}}``, the
        model version's guess, see :func:`normalize_suggestion`).

        A sample already queued or labelled is left alone, so re-running a scoring batch never
        queues the same record twice. Returns how many were added.
        """
        if not samples:
            return 0
        suggestions = [normalize_suggestion(s.get("suggestion")) for s in samples]  # all checked first
        ids = [str(s["sample_id"]) for s in samples]
        with self.engine.begin() as conn:
            existing = set(
                conn.execute(
                    sa.select(queue_table.c.sample_id).where(
                        queue_table.c.use_case == use_case, queue_table.c.sample_id.in_(ids)
                    )
                ).scalars()
            )
            now = _now()
            rows = []
            for sample, suggestion in zip(samples, suggestions, strict=True):
                sid = str(sample["sample_id"])
                if sid in existing:
                    continue
                existing.add(sid)
                rows.append(
                    {
                        "use_case": use_case,
                        "sample_id": sid,
                        "payload": json.dumps(sample.get("payload", {}), default=str),
                        "score": float(sample.get("score", 0.0)),
                        "strategy": sample.get("strategy"),
                        "model_version": None
                        if sample.get("model_version") is None
                        else str(sample["model_version"]),
                        "suggestion": None if suggestion is None else json.dumps(suggestion),
                        "status": QUEUED,
                        "enqueued_at": now,
                        "updated_at": now,
                    }
                )
            if rows:
                conn.execute(sa.insert(queue_table), rows)
        return len(rows)

    def queue(self, use_case: str, limit: int = 50, status: str = QUEUED) -> list[dict[str, Any]]:
        """Queued samples, most uncertain (highest score) first; ``suggestion`` decoded (or None)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(queue_table)
                .where(queue_table.c.use_case == use_case, queue_table.c.status == status)
                .order_by(queue_table.c.score.desc(), queue_table.c.id)
                .limit(limit)
            ).mappings()
            return [
                {
                    **dict(r),
                    "payload": json.loads(r["payload"]),
                    "suggestion": None if r["suggestion"] is None else json.loads(r["suggestion"]),
                }
                for r in rows
            ]

    def _set_status(self, conn: sa.Connection, use_case: str, sample_id: str, status: str) -> None:
        conn.execute(
            sa.update(queue_table)
            .where(queue_table.c.use_case == use_case, queue_table.c.sample_id == sample_id)
            .values(status=status, updated_at=_now())
        )

    def skip(self, use_case: str, sample_id: str) -> None:
        with self.engine.begin() as conn:
            self._set_status(conn, use_case, str(sample_id), SKIPPED)

    # -- labels ---------------------------------------------------------------------------------
    def add_label(
        self,
        use_case: str,
        sample_id: str,
        label: Any,
        annotator: str,
        source: str = "page",
        *,
        suggestion_shown: bool | None = None,
    ) -> int:
        """Record a label (a class name, or a list of names for multi-label). Returns its id.

        When the annotator was shown the queued sample's suggestion (``suggestion_shown``, by
        default: labels from the page), the label row keeps the suggesting model version, the
        suggested label and whether ``label`` is that suggestion unchanged.
        """
        shown = source == "page" if suggestion_shown is None else suggestion_shown
        sid = str(sample_id)
        with self.engine.begin() as conn:
            audit: dict[str, Any] = {}
            queued = conn.execute(
                sa.select(queue_table.c.suggestion, queue_table.c.model_version).where(
                    queue_table.c.use_case == use_case, queue_table.c.sample_id == sid
                )
            ).first()
            if shown and queued is not None and queued.suggestion is not None:
                suggested = json.loads(queued.suggestion)["prediction"]
                audit = {
                    "suggested_by_version": queued.model_version,
                    "suggested_label": json.dumps(suggested),
                    "accepted_suggestion": same_label(label, suggested),
                }
            result = conn.execute(
                sa.insert(labels_table).values(
                    use_case=use_case,
                    sample_id=sid,
                    label=json.dumps(label),
                    annotator=annotator,
                    source=source,
                    created_at=_now(),
                    **audit,
                )
            )
            self._set_status(conn, use_case, sid, LABELLED)
            return int(result.inserted_primary_key[0])

    def undo(self, label_id: int) -> dict[str, Any]:
        """Withdraw a label and put its sample back in the queue."""
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(labels_table).where(labels_table.c.id == label_id)).mappings().first()
            )
            if row is None or row["undone_at"] is not None:
                raise KeyError(f"no active label {label_id}")
            conn.execute(
                sa.update(labels_table).where(labels_table.c.id == label_id).values(undone_at=_now())
            )
            self._set_status(conn, row["use_case"], row["sample_id"], QUEUED)
            return dict(row)

    def labels(self, use_case: str, after_id: int = 0) -> list[dict[str, Any]]:
        """Active labels, latest per sample, optionally only those with id > ``after_id``.

        Each row: ``id``, ``use_case``, ``sample_id``, ``label``, ``annotator``, ``source``,
        ``created_at``, ``undone_at``, and the suggestion audit ``suggested_by_version``,
        ``suggested_label``, ``accepted_suggestion`` (None when no suggestion was shown).
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(labels_table)
                .where(
                    labels_table.c.use_case == use_case,
                    labels_table.c.undone_at.is_(None),
                    labels_table.c.id > after_id,
                )
                .order_by(labels_table.c.id)
            ).mappings()
            latest: dict[str, dict[str, Any]] = {}
            for r in rows:
                suggested = r["suggested_label"]
                latest[r["sample_id"]] = {
                    **dict(r),
                    "label": json.loads(r["label"]),
                    "suggested_label": None if suggested is None else json.loads(suggested),
                }
            return list(latest.values())

    def labelled_samples(self, use_case: str) -> list[dict[str, Any]]:
        """Active labels (latest per sample) with the queued record they label (``payload``, or
        None for labels uploaded without a queued record), for building training rows."""
        labels = self.labels(use_case)
        if not labels:
            return []
        ids = [row["sample_id"] for row in labels]
        payloads: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = conn.execute(
                    sa.select(queue_table.c.sample_id, queue_table.c.payload).where(
                        queue_table.c.use_case == use_case, queue_table.c.sample_id.in_(chunk)
                    )
                )
                payloads.update({sid: json.loads(payload) for sid, payload in rows})
        return [{**row, "payload": payloads.get(row["sample_id"])} for row in labels]

    def last_label_id(self, use_case: str) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(sa.func.max(labels_table.c.id)).where(labels_table.c.use_case == use_case)
            ).scalar()
            return int(value or 0)

    def counts(self, use_case: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            by_status = dict(
                conn.execute(
                    sa.select(queue_table.c.status, sa.func.count())
                    .where(queue_table.c.use_case == use_case)
                    .group_by(queue_table.c.status)
                ).all()
            )
        return {QUEUED: 0, LABELLED: 0, SKIPPED: 0, **by_status, "labels": len(self.labels(use_case))}


# The Dagster resource lives in a module without SQLAlchemy (definitions import it); re-exported here.
from resources.annotation_resource import AnnotationStoreResource  # noqa: E402

__all__ = ["AnnotationStore", "AnnotationStoreResource", "labels_table", "queue_table"]

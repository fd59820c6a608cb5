"""The annotation store: samples queued for people to label, and the labels they give.

SQLAlchemy Core over ``FLYWHEEL_DATABASE_URL`` (a SQLite file under ``FLYWHEEL_HOME`` by default;
a ``postgresql://`` URL works unchanged). Labels are never deleted: an undo stamps ``undone_at``,
so the history of who labelled what, and when, stays auditable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field

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
)

QUEUED, LABELLED, SKIPPED = "queued", "labelled", "skipped"


def _now() -> datetime:
    return datetime.now(UTC)


class AnnotationStore:
    """Plain store used by assets, the annotation page and tests."""

    def __init__(self, database_url: str):
        if database_url.startswith("sqlite:///"):
            Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(database_url, future=True)
        metadata.create_all(self.engine)

    # -- queue ---------------------------------------------------------------------------------
    def enqueue(self, use_case: str, samples: list[dict[str, Any]]) -> int:
        """Queue samples (``sample_id``, ``payload``, ``score``, optional ``strategy``/``model_version``).

        A sample already queued or labelled is left alone, so re-running a scoring batch never
        queues the same record twice. Returns how many were added.
        """
        if not samples:
            return 0
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
            for sample in samples:
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
                        "status": QUEUED,
                        "enqueued_at": now,
                        "updated_at": now,
                    }
                )
            if rows:
                conn.execute(sa.insert(queue_table), rows)
        return len(rows)

    def queue(self, use_case: str, limit: int = 50, status: str = QUEUED) -> list[dict[str, Any]]:
        """Queued samples, most uncertain (highest score) first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(queue_table)
                .where(queue_table.c.use_case == use_case, queue_table.c.status == status)
                .order_by(queue_table.c.score.desc(), queue_table.c.id)
                .limit(limit)
            ).mappings()
            return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]

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
        self, use_case: str, sample_id: str, label: Any, annotator: str, source: str = "page"
    ) -> int:
        """Record a label (a class name, or a list of names for multi-label). Returns its id."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.insert(labels_table).values(
                    use_case=use_case,
                    sample_id=str(sample_id),
                    label=json.dumps(label),
                    annotator=annotator,
                    source=source,
                    created_at=_now(),
                )
            )
            self._set_status(conn, use_case, str(sample_id), LABELLED)
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
        """Active labels, latest per sample, optionally only those with id > ``after_id``."""
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
                latest[r["sample_id"]] = {**dict(r), "label": json.loads(r["label"])}
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


class AnnotationStoreResource(ConfigurableResource):
    """The annotation store for assets and sensors (``FLYWHEEL_DATABASE_URL``)."""

    database_url: str = Field(description="SQLAlchemy URL: sqlite:///path.db (default) or postgresql://...")

    def store(self) -> AnnotationStore:
        return AnnotationStore(self.database_url)

"""Read-only look-ups the page needs and :class:`AnnotationStore` does not offer.

The store answers "what is queued" and "what is labelled"; validating a write also needs "does this
sample exist here, and in which state" and "what did this label record" (its suggestion audit).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from resources.annotation_store import AnnotationStore, labels_table, queue_table


def sample_status(store: AnnotationStore, use_case: str, sample_id: str) -> str | None:
    """The sample's queue status (``queued``/``labelled``/``skipped``), or ``None`` if unknown."""
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(queue_table.c.status).where(
                queue_table.c.use_case == use_case, queue_table.c.sample_id == sample_id
            )
        ).scalar()


def sample_payload(store: AnnotationStore, use_case: str, sample_id: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        raw = conn.execute(
            sa.select(queue_table.c.payload).where(
                queue_table.c.use_case == use_case, queue_table.c.sample_id == sample_id
            )
        ).scalar()
    return None if raw is None else json.loads(raw)


def label_by_id(store: AnnotationStore, use_case: str, label_id: int) -> dict[str, Any] | None:
    """The label row if it exists, belongs to ``use_case`` and has not been undone.

    Not necessarily its sample's active label (a newer label may have replaced it): what a sample
    is labelled is :meth:`AnnotationStore.active_label`, the one rule every reader uses.
    """
    with store.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(labels_table).where(
                    labels_table.c.id == label_id,
                    labels_table.c.use_case == use_case,
                    labels_table.c.undone_at.is_(None),
                )
            )
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


def texts(
    store: AnnotationStore, use_case: str, sample_ids: Iterable[str], chunk: int = 500
) -> dict[str, str]:
    """``sample_id -> text`` for samples whose payload has a ``text`` (or ``message``) field."""
    ids = list(sample_ids)
    found: dict[str, str] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(ids), chunk):
            rows = conn.execute(
                sa.select(queue_table.c.sample_id, queue_table.c.payload).where(
                    queue_table.c.use_case == use_case,
                    queue_table.c.sample_id.in_(ids[start : start + chunk]),
                )
            )
            for sid, raw in rows:
                payload = json.loads(raw)
                text = payload.get("text", payload.get("message")) if isinstance(payload, dict) else None
                if isinstance(text, str):
                    found[sid] = text
    return found

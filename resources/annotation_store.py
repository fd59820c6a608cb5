"""The annotation store: samples queued for people to label, and the labels they give.

SQLAlchemy Core over ``FLYWHEEL_DATABASE_URL`` (a SQLite file under ``FLYWHEEL_HOME`` by default;
a ``postgresql://`` URL works unchanged). Labels are never deleted: an undo stamps ``undone_at``,
so the history of who labelled what, and when, stays auditable.

A queued sample may carry the champion's suggestion (``{"prediction", "probabilities"}``), which the
page pre-selects. Each label made on the page then records which model version suggested what and
whether the annotator accepted it unchanged, so how often people just confirm the model (and where
they correct it) can be measured.

A sample's *active label* is its latest label that has not been undone. Every reader (the page's
counts and downloads, :meth:`AnnotationStore.labelled_samples` for the ``<uc>_annotations`` asset,
:meth:`AnnotationStore.labels` for the retrain sensor) goes through :func:`_active_label_ids`, so
they cannot disagree; a queued sample is ``labelled`` exactly while it has an active label.

Columns added after a database was first created are nullable and added on open (``ALTER TABLE ...
ADD COLUMN``), so an older database keeps working without a migration tool.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
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
#: Rows per multi-row INSERT: 11 parameters each stays under SQLite's oldest limit of 999 variables.
_INSERT_CHUNK = 80


class PayloadConflict(ValueError):
    """Uploaded ids already stored with another payload: a label must never attach to a record other
    than the one its annotator saw, so the whole upload is refused (``sample_ids`` lists them)."""

    def __init__(self, sample_ids: list[str]):
        shown = ", ".join(repr(s[:80]) for s in sample_ids[:10]) + (" ..." if len(sample_ids) > 10 else "")
        super().__init__(f"{len(sample_ids)} id(s) already stored with a different payload: {shown}")
        self.sample_ids = sample_ids


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


_CREATE_ATTEMPTS = 5
# SQLite's driver waits 5 s for a lock by default; a loaded machine running several scoring runs and
# the annotation page at once can hold one longer, so writers wait up to this long instead.
_SQLITE_LOCK_WAIT_SECONDS = 30


def _create_tables(engine: sa.Engine) -> None:
    """``create_all``, tolerating a second process that creates the same tables at the same moment.

    Two scoring runs may open a fresh database at once; both see no table and both create it. The
    loser looks again after a short pause, until the winner's tables are there (``create_all`` then
    only checks); after a few attempts the error is real and raised.
    """
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            metadata.create_all(engine)
            return
        except sa.exc.DBAPIError:
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))  # the winner is still writing its DDL; look again


def _insert_ignoring_existing(conn: sa.Connection, use_case: str, rows: list[dict[str, Any]]) -> int:
    """Insert queue rows, skipping any whose ``(use_case, sample_id)`` is already there; returns how
    many were inserted.

    ``INSERT ... ON CONFLICT DO NOTHING`` decides in the database, so two runs queueing the same id at
    once never fail on the unique constraint (a select-then-insert would race). Rows keep their given
    order (equal scores are shown in it). On PostgreSQL two transactions inserting overlapping ids
    in different orders would each wait for the other's uncommitted rows (a deadlock, so a failed
    step); a transaction lock per use case makes the second wait for the first instead. SQLite
    already lets one writer at a time hold the database.
    """
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        key = sa.func.hashtext(f"flywheel.annotation_queue:{use_case}")
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    else:
        raise NotImplementedError(f"the annotation store supports SQLite and PostgreSQL, not {name}")
    added = 0
    for start in range(0, len(rows), _INSERT_CHUNK):
        statement = (
            insert(queue_table)
            .values(rows[start : start + _INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=[queue_table.c.use_case, queue_table.c.sample_id])
            # SQLAlchemy keeps an INSERT's row count only when asked (psycopg's would read -1)
            .execution_options(preserve_rowcount=True)
        )
        added += conn.execute(statement).rowcount
    return added


def _version(value: Any) -> str | None:
    return None if value is None else str(value)


def _active_label_ids(use_case: str, sample_ids: Sequence[str] | None = None) -> sa.Select:
    """The one rule for a sample's label: the newest of its labels not undone (their ids, one per
    sample; only of ``sample_ids`` when given)."""
    query = sa.select(sa.func.max(labels_table.c.id)).where(
        labels_table.c.use_case == use_case, labels_table.c.undone_at.is_(None)
    )
    if sample_ids is not None:
        query = query.where(labels_table.c.sample_id.in_(sample_ids))
    return query.group_by(labels_table.c.sample_id)


def _decoded_label(row: Mapping[str, Any]) -> dict[str, Any]:
    suggested = row["suggested_label"]
    return {
        **dict(row),
        "label": json.loads(row["label"]),
        "suggested_label": None if suggested is None else json.loads(suggested),
    }


def _canonical(payload: Any) -> str:
    """A payload as comparable JSON: the same record always gives the same text, key order aside."""
    return json.dumps(json.loads(json.dumps(payload, default=str)), sort_keys=True)


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
        connect_args = {"timeout": _SQLITE_LOCK_WAIT_SECONDS} if database_url.startswith("sqlite") else {}
        self.engine = sa.create_engine(database_url, future=True, connect_args=connect_args)
        _create_tables(self.engine)
        _add_missing_columns(self.engine)

    # -- queue ---------------------------------------------------------------------------------
    def enqueue(self, use_case: str, samples: list[dict[str, Any]]) -> int:
        """Queue samples: ``sample_id``, ``payload``, ``score``, optional ``strategy``, ``model_version``
        and ``suggestion`` (``{"prediction": label | [labels], "probabilities": {label: p}}``, the
        model version's guess, see :func:`normalize_suggestion`).

        A sample already queued or labelled is left alone (the first of repeated ids in ``samples``
        wins), so re-running a scoring batch, or two runs queueing the same record at the same time,
        never queue it twice and never fail. Returns how many were added.
        """
        if not samples:
            return 0
        rows = self._queue_rows(use_case, samples)  # every suggestion checked before anything is written
        with self.engine.begin() as conn:
            return _insert_ignoring_existing(conn, use_case, rows)

    @staticmethod
    def _queue_rows(use_case: str, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        now = _now()
        rows: dict[str, dict[str, Any]] = {}
        for sample in samples:
            suggestion = normalize_suggestion(sample.get("suggestion"))
            sid = str(sample["sample_id"])
            if sid in rows:
                continue
            rows[sid] = {
                "use_case": use_case,
                "sample_id": sid,
                "payload": json.dumps(sample.get("payload", {}), default=str),
                "score": float(sample.get("score", 0.0)),
                "strategy": sample.get("strategy"),
                "model_version": _version(sample.get("model_version")),
                "suggestion": None if suggestion is None else json.dumps(suggestion),
                "status": QUEUED,
                "enqueued_at": now,
                "updated_at": now,
            }
        return list(rows.values())

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

        The new label is the sample's active label (the newest one), however many came before.
        When the annotator was shown the queued sample's suggestion (``suggestion_shown``, by
        default: labels from the page), the label row keeps the suggesting model version, the
        suggested label and whether ``label`` is that suggestion unchanged.
        """
        shown = source == "page" if suggestion_shown is None else suggestion_shown
        sid = str(sample_id)
        with self.engine.begin() as conn:
            # The status write comes first: it locks the sample's queue row (PostgreSQL) or the
            # database (SQLite) for this transaction, so an undo of the same sample waits for it.
            self._set_status(conn, use_case, sid, LABELLED)
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
            return int(result.inserted_primary_key[0])

    def undo(self, label_id: int, use_case: str | None = None) -> dict[str, Any]:
        """Withdraw a label; its sample keeps the label it had before (if any), else is queued again.

        Label A, relabel B, undo B: A is the sample's active label again and the sample stays
        ``labelled``, so the page, the downloads and training all read A. Undoing a sample's only
        active label puts it back in the queue. Returns the withdrawn label (decoded, with
        ``undone_at``) plus ``sample_status`` and ``active_label`` (the label now in force, or None).
        Raises :class:`KeyError` unless the label exists, is not undone, and belongs to ``use_case``
        (when given); two undos of one label at once withdraw it once.
        """
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(labels_table).where(labels_table.c.id == label_id)).mappings().first()
            )
            if row is None or row["undone_at"] is not None or use_case not in (None, row["use_case"]):
                raise KeyError(f"no active label {label_id}")
            uc, sid, now = row["use_case"], row["sample_id"], _now()
            self._set_status(conn, uc, sid, QUEUED)  # locks the sample first (see add_label)
            withdrawn = conn.execute(
                sa.update(labels_table)
                .where(labels_table.c.id == label_id, labels_table.c.undone_at.is_(None))
                .values(undone_at=now)
            ).rowcount
            if withdrawn != 1:  # undone by someone else since the read above; the rollback keeps theirs
                raise KeyError(f"no active label {label_id}")
            active = self._active_label(conn, uc, sid)
            if active is not None:
                self._set_status(conn, uc, sid, LABELLED)
            return {
                **_decoded_label({**row, "undone_at": now}),
                "sample_status": QUEUED if active is None else LABELLED,
                "active_label": active,
            }

    @staticmethod
    def _active_labels(
        conn: sa.Connection, use_case: str, sample_ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """``sample_id -> active label`` for those of ``sample_ids`` that have one."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(sample_ids), 500):
            chunk = sample_ids[start : start + 500]
            rows = conn.execute(
                sa.select(labels_table).where(labels_table.c.id.in_(_active_label_ids(use_case, chunk)))
            ).mappings()
            found.update({r["sample_id"]: _decoded_label(r) for r in rows})
        return found

    def _active_label(self, conn: sa.Connection, use_case: str, sample_id: str) -> dict[str, Any] | None:
        return self._active_labels(conn, use_case, [sample_id]).get(sample_id)

    def active_label(self, use_case: str, sample_id: str) -> dict[str, Any] | None:
        """The sample's active label (its newest not undone), decoded as in :meth:`labels`, or None."""
        with self.engine.connect() as conn:
            return self._active_label(conn, use_case, str(sample_id))

    def labels(self, use_case: str, after_id: int = 0) -> list[dict[str, Any]]:
        """Active labels (one per labelled sample: its newest not undone), oldest first, optionally
        only those with id > ``after_id``.

        With ``after_id`` this is exactly "the active labels made since label ``after_id``": a
        relabelled sample counts once, and an undone relabel never counts (the retrain sensor's rule).
        Each row: ``id``, ``use_case``, ``sample_id``, ``label``, ``annotator``, ``source``,
        ``created_at``, ``undone_at``, and the suggestion audit ``suggested_by_version``,
        ``suggested_label``, ``accepted_suggestion`` (None when no suggestion was shown).
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(labels_table)
                .where(
                    labels_table.c.use_case == use_case,
                    labels_table.c.id > after_id,
                    labels_table.c.id.in_(_active_label_ids(use_case)),
                )
                .order_by(labels_table.c.id)
            ).mappings()
            return [_decoded_label(r) for r in rows]

    def _queued_rows(self, use_case: str, sample_ids: list[str], *columns: sa.Column) -> dict[str, Any]:
        """``sample_id -> row`` (``columns`` of the queue) for those of ``sample_ids`` that were queued."""
        found: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(sample_ids), 500):
                rows = conn.execute(
                    sa.select(queue_table.c.sample_id, *columns).where(
                        queue_table.c.use_case == use_case,
                        queue_table.c.sample_id.in_(sample_ids[start : start + 500]),
                    )
                ).mappings()
                found.update({r["sample_id"]: r for r in rows})
        return found

    def labelled_samples(self, use_case: str) -> list[dict[str, Any]]:
        """Active labels (see :meth:`labels`) with the queued record they label (``payload``, or
        None for labels uploaded without a queued record), for building training rows."""
        labels = self.labels(use_case)
        queued = self._queued_rows(use_case, [row["sample_id"] for row in labels], queue_table.c.payload)
        return [
            {
                **row,
                "payload": json.loads(queued[row["sample_id"]]["payload"])
                if row["sample_id"] in queued
                else None,
            }
            for row in labels
        ]

    def scored_labels(self, use_case: str) -> list[dict[str, Any]]:
        """Active labels of queued records (see :meth:`labels`) with what the queue knew of each:
        ``strategy`` (``audit`` for the random share), ``model_version`` (the version that scored it)
        and ``suggestion`` (its prediction and probabilities), for measuring a version's live quality.
        Labels uploaded without a queued record are left out: no version predicted them."""
        labels = self.labels(use_case)
        columns = (queue_table.c.strategy, queue_table.c.model_version, queue_table.c.suggestion)
        queued = self._queued_rows(use_case, [row["sample_id"] for row in labels], *columns)
        scored = []
        for row in labels:
            entry = queued.get(row["sample_id"])
            if entry is None or entry["suggestion"] is None:
                continue
            suggestion = json.loads(entry["suggestion"])
            scored.append(
                {
                    **row,
                    "strategy": entry["strategy"],
                    "model_version": entry["model_version"],
                    "suggestion": suggestion,
                }
            )
        return scored

    def add_uploaded(
        self,
        use_case: str,
        files: Sequence[tuple[list[dict[str, Any]], list[tuple[dict[str, Any], Any]]]],
        annotator: str,
    ) -> list[dict[str, int]]:
        """Store uploaded files, all or nothing: per file, samples to queue and ``(sample, label)``
        pairs to store as labels (``source="upload"``, no suggestion shown).

        An id already stored (or given twice in the upload) with a different payload raises
        :class:`PayloadConflict` and nothing is written. The same payload again is no change, and a
        label equal to the sample's active label is not stored again, so uploading a file twice adds
        nothing (and cannot make the retrain sensor count old labels as new). Returns per file
        ``enqueued``, ``already_queued``, ``labelled`` and ``already_labelled``.
        """
        wanted: dict[str, str] = {}
        conflicts: set[str] = set()
        prepared = []
        for samples, labelled in files:
            for sample in [*samples, *(s for s, _ in labelled)]:
                sid, payload = str(sample["sample_id"]), _canonical(sample.get("payload", {}))
                if wanted.setdefault(sid, payload) != payload:
                    conflicts.add(sid)
            prepared.append(
                (
                    self._queue_rows(use_case, samples),
                    self._queue_rows(use_case, [s for s, _ in labelled]),
                    [(str(s["sample_id"]), label) for s, label in labelled],
                )
            )
        reports: list[dict[str, int]] = []
        with self.engine.begin() as conn:
            for queued_rows, labelled_rows, _ in prepared:
                enqueued = _insert_ignoring_existing(conn, use_case, queued_rows)
                _insert_ignoring_existing(conn, use_case, labelled_rows)
                reports.append({"enqueued": enqueued, "already_queued": len(queued_rows) - enqueued})
            ids = list(wanted)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                stored = conn.execute(
                    sa.select(queue_table.c.sample_id, queue_table.c.payload).where(
                        queue_table.c.use_case == use_case, queue_table.c.sample_id.in_(chunk)
                    )
                )
                conflicts.update(sid for sid, raw in stored if _canonical(json.loads(raw)) != wanted[sid])
            if conflicts:
                raise PayloadConflict(sorted(conflicts))  # the transaction rolls back
            for report, (_, _, labelled) in zip(reports, prepared, strict=True):
                active = self._active_labels(conn, use_case, [sid for sid, _ in labelled])
                new = [(sid, label) for sid, label in labelled if active.get(sid, {}).get("label") != label]
                self._insert_labels(conn, use_case, new, annotator, "upload")
                report.update(labelled=len(new), already_labelled=len(labelled) - len(new))
        return reports

    def _insert_labels(
        self, conn: sa.Connection, use_case: str, labelled: list[tuple[str, Any]], annotator: str, source: str
    ) -> None:
        """Labels without a suggestion audit (uploads), in one batch, their samples marked labelled."""
        if not labelled:
            return
        now = _now()
        rows = [
            {
                "use_case": use_case,
                "sample_id": sid,
                "label": json.dumps(label),
                "annotator": annotator,
                "source": source,
                "created_at": now,
            }
            for sid, label in labelled
        ]
        conn.execute(sa.insert(labels_table), rows)
        ids = sorted({sid for sid, _ in labelled})
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conn.execute(
                sa.update(queue_table)
                .where(queue_table.c.use_case == use_case, queue_table.c.sample_id.in_(chunk))
                .values(status=LABELLED, updated_at=now)
            )

    def last_label_id(self, use_case: str) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(sa.func.max(labels_table.c.id)).where(labels_table.c.use_case == use_case)
            ).scalar()
            return int(value or 0)

    def counts(self, use_case: str) -> dict[str, int]:
        """Queue rows by status, and ``labels``: how many samples have an active label."""
        with self.engine.connect() as conn:
            by_status = dict(
                conn.execute(
                    sa.select(queue_table.c.status, sa.func.count())
                    .where(queue_table.c.use_case == use_case)
                    .group_by(queue_table.c.status)
                ).all()
            )
            labels = conn.execute(
                sa.select(sa.func.count()).select_from(_active_label_ids(use_case).subquery())
            ).scalar_one()
        return {QUEUED: 0, LABELLED: 0, SKIPPED: 0, **by_status, "labels": int(labels)}


# The Dagster resource lives in a module without SQLAlchemy (definitions import it); re-exported here.
from resources.annotation_resource import AnnotationStoreResource  # noqa: E402

__all__ = ["AnnotationStore", "AnnotationStoreResource", "PayloadConflict", "labels_table", "queue_table"]

"""The Sparkify loop: events on ``sparkify.events`` rescore the users they touch from their history,
and outcomes resolve themselves from later events (delayed ground truth).

* :func:`stream_record` (``RecordSchema.prepare``): an event with a user gets its key
  ``event_id = userId:sessionId:itemInSession``; a logged-out or guest event carries no user to score
  and is refused (dead-lettered with the reason ``not_a_record: ...``, counted, never lost).
* :func:`score_with_history` (``LoopSpec.history_scorer``): the batch's users are scored on their
  whole history (the clean events table plus the batch, an event in both counted once) as of the
  stream's "now", the latest ``ts`` in the batch; every record gets its user's risk.
* :func:`resolved_outcomes` (``LoopSpec.outcome_counter``): a scored user's outcome is known once a
  horizon has passed since the moment it was scored (judged by the latest event time seen), or at
  once when a ``Cancellation Confirmation`` followed. The retrain sensor counts these.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assets.sparkify.events import CANCEL_PAGE, FIELDS, USER_AUTHS
from assets.sparkify.features import DAY_MS
from assets.sparkify.model import AS_OF, CHURN, STAY, events_table_path, user_history

HORIZON_DAYS = 30.0
EVENT_KEY = ("userId", "sessionId", "itemInSession")


def stream_record(record: dict[str, Any]) -> dict[str, Any]:
    user = record.get("userId")
    if user in (None, "") or record.get("auth") not in USER_AUTHS:
        raise ValueError(f"a {record.get('auth') or 'logged-out'} event carries no user to score")
    return {**record, "event_id": f"{user}:{record.get('sessionId')}:{record.get('itemInSession')}"}


def with_history(records: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """The batch's users' events: history (events table) + the batch, each event once."""
    users = sorted(records["userId"].astype(str).unique())
    if history is None:
        history = user_history(users) if events_table_path().exists() else pd.DataFrame(columns=list(FIELDS))
    frames = [history.reindex(columns=list(FIELDS)), records.reindex(columns=list(FIELDS))]
    both = pd.concat([f for f in frames if len(f)], ignore_index=True)
    both["userId"] = both["userId"].astype(str)
    return both.drop_duplicates(list(EVENT_KEY), keep="last")


def score_with_history(
    model: Any, records: pd.DataFrame, history: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per record: its user's risk from their history, as of the batch's latest ``ts``."""
    events = with_history(records, history)
    now = int(pd.to_numeric(records["ts"]).max()) + 1
    scored = model.predict(events.assign(**{AS_OF: now}))
    proba = records["userId"].astype(str).map(scored.set_index("userId")["churn_probability"])
    p = proba.to_numpy(dtype=float)
    return pd.DataFrame({CHURN: p, STAY: 1.0 - p, "prediction": np.where(p >= 0.5, CHURN, STAY)})


def resolved_outcomes(horizon_days: float = HORIZON_DAYS) -> int:
    """How many scored users' outcomes are known (horizon passed, or cancelled since)."""
    import json

    from assets.loop.scoring import predictions_table

    table = predictions_table("sparkify", ["record"])
    if table.empty:
        return 0
    records = pd.DataFrame([json.loads(r) for r in table["record"]])
    records["ts"] = pd.to_numeric(records["ts"])
    first_scored = records.groupby(records["userId"].astype(str))["ts"].min()
    latest = int(records["ts"].max())
    if events_table_path().exists():
        latest = max(latest, int(user_history(list(first_scored.index))["ts"].max() or 0))
    cancelled = set(records.loc[records["page"] == CANCEL_PAGE, "userId"].astype(str))
    passed = first_scored + int(horizon_days * DAY_MS) <= latest
    return int((passed | first_scored.index.isin(cancelled)).sum())

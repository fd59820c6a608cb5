"""The Sparkify loop: events on ``sparkify.events`` rescore the users they touch from their history,
and outcomes resolve themselves from later events (delayed ground truth).

* :func:`stream_record` (``RecordSchema.prepare``): an event with a user gets its key
  ``event_id = userId:sessionId:itemInSession``; a logged-out or guest event carries no user to score
  and is refused (dead-lettered with the reason ``not_a_record: ...``, counted, never lost).
* :func:`score_with_history` (``LoopSpec.history_scorer``): the batch's users are scored on their
  whole history: the clean events table, the events of earlier stream batches (the loop's
  predictions table keeps every scored record: they reach the events table only when
  ``sparkify_events`` re-runs) and the batch, an event seen twice counted once (by
  ``userId, sessionId, itemInSession``). Events after the stream's "now" (the batch's latest ``ts``)
  are left out, and each user is scored as of their own latest event, exactly as the pyfunc contract
  and the training rows see a user; every record gets its user's risk.
* :func:`resolved_outcomes` (``LoopSpec.outcome_counter``): a scored user's outcome is known once a
  horizon has passed since the moment it was scored (judged by the latest event time seen), or at
  once when a ``Cancellation Confirmation`` followed. The retrain sensor counts these.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assets.sparkify.events import FIELDS, USER_AUTHS
from assets.sparkify.features import DAY_MS
from assets.sparkify.model import CHURN, STAY, events_table_path, user_history

HORIZON_DAYS = 30.0
EVENT_KEY = ("userId", "sessionId", "itemInSession")


def stream_record(record: dict[str, Any]) -> dict[str, Any]:
    user = record.get("userId")
    if user in (None, "") or record.get("auth") not in USER_AUTHS:
        raise ValueError(f"a {record.get('auth') or 'logged-out'} event carries no user to score")
    return {**record, "event_id": f"{user}:{record.get('sessionId')}:{record.get('itemInSession')}"}


def streamed_history(users: list[str]) -> pd.DataFrame:
    """The events of ``users`` that earlier stream batches scored (the 18 fields), from the compacted
    stream state (``assets.sparkify.stream_state``): the cost is the batch's users', not the stream's."""
    from assets.sparkify.stream_state import streamed_events

    return streamed_events(users)


def with_history(records: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """The batch's users' events: history (events table + earlier stream batches, unless given) + the
    batch, each event once (the latest copy)."""
    users = sorted(records["userId"].astype(str).unique())
    if history is None:
        table = user_history(users) if events_table_path().exists() else pd.DataFrame(columns=list(FIELDS))
        history = pd.concat(
            [f.reindex(columns=list(FIELDS)) for f in (table, streamed_history(users)) if len(f)]
            or [pd.DataFrame(columns=list(FIELDS))],
            ignore_index=True,
        )
    frames = [history.reindex(columns=list(FIELDS)), records.reindex(columns=list(FIELDS))]
    both = pd.concat([f for f in frames if len(f)], ignore_index=True)
    both["userId"] = both["userId"].astype(str)
    for column in ("ts", "sessionId", "itemInSession"):
        both[column] = pd.to_numeric(both[column], errors="coerce")
    return both.drop_duplicates([*EVENT_KEY, "ts"], keep="last")  # the key and its time, as cleaning


def score_with_history(
    model: Any, records: pd.DataFrame, history: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per record: its user's risk from their history up to the batch's latest ``ts``, each
    user as of their own latest event (no ``as_of`` column: the contract, as in training)."""
    events = with_history(records, history)
    now = int(pd.to_numeric(records["ts"]).max()) + 1
    scored = model.predict(events[events["ts"] < now])
    proba = records["userId"].astype(str).map(scored.set_index("userId")["churn_probability"])
    p = proba.to_numpy(dtype=float)
    return pd.DataFrame({CHURN: p, STAY: 1.0 - p, "prediction": np.where(p >= 0.5, CHURN, STAY)})


def outcome_labels(horizon_days: float = HORIZON_DAYS) -> list[dict]:
    """Each resolved user as a label of the prediction made at their first scored event (before
    anything the outcome depends on was seen), in the shape of ``AnnotationStore.scored_labels``.

    Every scored user resolves, not a sample, so these labels measure live quality without the
    bias of uncertainty picks (``strategy`` ``outcome``)."""
    import json

    from assets.loop.records import PROBA_PREFIX
    from assets.loop.scoring import predictions_table
    from assets.sparkify.stream_state import resolved_users

    resolved = resolved_users(int(horizon_days * DAY_MS))
    if not resolved:
        return []
    columns = ["key", "model_version", "prediction", "scored_at", "record", f"{PROBA_PREFIX}{CHURN}"]
    scored = predictions_table("sparkify", columns=columns)
    events = [json.loads(r) for r in scored["record"]]
    scored["user"] = [str(e.get("userId")) for e in events]
    scored["ts"] = pd.to_numeric(pd.Series([e.get("ts") for e in events]), errors="coerce").to_numpy()
    first = scored.sort_values(["ts", "key"]).drop_duplicates("user").set_index("user")
    labels = []
    for number, (user, _first_ts, cancelled) in enumerate(resolved, start=1):
        if user not in first.index:
            continue
        row = first.loc[user]
        churn = float(row[f"{PROBA_PREFIX}{CHURN}"])
        labels.append(
            {
                "id": number,
                "sample_id": f"user:{user}",
                "created_at": pd.Timestamp(float(row["scored_at"]), unit="s", tz="UTC"),
                "strategy": "outcome",
                "model_version": str(row["model_version"]),
                "label": CHURN if cancelled else STAY,
                "suggestion": {
                    "prediction": str(row["prediction"]),
                    "probabilities": {CHURN: churn, STAY: 1 - churn},
                },
            }
        )
    return labels


def resolved_outcomes(horizon_days: float = HORIZON_DAYS) -> int:
    """How many scored users' outcomes are known (horizon passed since first scored, judged by the
    latest event time seen, streamed or landed; or cancelled since), from the compacted stream state:
    a retrain tick folds only the partitions written since the last one."""
    from assets.sparkify.stream_state import resolved_count

    return resolved_count(int(horizon_days * DAY_MS))

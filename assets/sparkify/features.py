"""Per-user churn features as of a moment, from that user's events strictly before it: ONE function
(:func:`user_features`) that training (inside Spark's ``applyInPandas``, or plain pandas) and the
served pyfunc both call, so they cannot drift apart.

``as_of`` is the moment the features describe: in training the observation cutoff (the label is a
``Cancellation Confirmation`` in ``[cutoff, cutoff + horizon)``); when serving, the latest ``ts`` of
each user in the input (so a user's risk does not depend on who else is in the batch) or an explicit
moment (the loop passes "now"). Only events with ``ts < as_of`` are read: removing later events
changes nothing (``tests/test_sparkify_features.py`` proves it).

Everything is relative to ``as_of`` or to the user's own history, never to the end of the data set:
the seed notebook's account age ran to the cancellation date for churners only, a feature that sees
the future.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from assets.sparkify.events import CANCEL_PAGE

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
#: Pages counted, and their feature-name stems.
COUNTED_PAGES: dict[str, str] = {
    "NextSong": "songs",
    "Thumbs Up": "thumbs_up",
    "Thumbs Down": "thumbs_down",
    "Add to Playlist": "add_playlist",
    "Add Friend": "add_friend",
    "Roll Advert": "adverts",
    "Error": "errors",
    "Help": "help",
    "Settings": "settings",
    "Downgrade": "downgrade",
    "Upgrade": "upgrade",
}
OPERATING_SYSTEMS = ("windows", "mac", "linux", "iphone", "ipad", "android")
FEATURE_NAMES: tuple[str, ...] = (
    *[f"n_{stem}" for stem in COUNTED_PAGES.values()],
    *[f"{stem}_per_hour" for stem in COUNTED_PAGES.values()],
    "n_events",
    "n_sessions",
    "sessions_per_day",
    "songs_per_session",
    "session_minutes_mean",
    "distinct_artists",
    "days_since_registration",
    "days_since_last_event",
    "days_active",
    "songs_last_7d",
    "songs_last_7d_share",
    "thumbs_down_share",
    "paid",
    "level_changes",
    "male",
    *[f"os_{name}" for name in OPERATING_SYSTEMS],
)
#: Features that measure the gap between ``as_of`` and the user's last event. Served as of the user's
#: latest ``ts`` (the contract) the gap is always 0, so a model that read it would see at serving a
#: constant it never saw in training: train/serve skew. Kept for the customer metrics, not the model.
AS_OF_GAP_FEATURES: tuple[str, ...] = ("days_since_last_event",)
#: What the churn models read.
MODEL_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n not in AS_OF_GAP_FEATURES)
#: The event fields :func:`user_features` reads (Spark hands pandas only these: the other fields,
#: song titles and names among them, would be a third of what travels through Arrow for nothing).
FEATURE_INPUTS: tuple[str, ...] = (
    "userId", "ts", "sessionId", "page", "level", "artist", "registration", "gender", "userAgent", "location",
)  # fmt: skip
#: Descriptive columns returned beside the features (the web app shows them; models do not use them).
PROFILE_COLUMNS = ("gender", "level", "state", "os", "first_ts", "last_ts")


def operating_system(agent: object) -> str:
    """The device family of a ``userAgent`` (iPhone and iPad before Mac: their agents say "Mac OS X")."""
    text = str(agent or "")
    for name, pattern in (
        ("iphone", "iPhone"), ("ipad", "iPad"), ("android", "Android"), ("windows", "Windows"),
        ("mac", "Macintosh"), ("linux", "Linux"),
    ):  # fmt: skip
        if pattern in text:
            return name
    return "other"


def state(location: object) -> str:
    """The first state of ``"City-Other, ST-ST2"`` (``""`` when unknown)."""
    match = re.search(r",\s*([A-Z]{2})", str(location or ""))
    return match.group(1) if match else ""


def _as_of_per_user(users: pd.Index, events: pd.DataFrame, as_of: object) -> pd.Series:
    if as_of is None:  # each user's latest event, included (features strictly before as_of)
        return events.groupby("userId")["ts"].max().reindex(users) + 1
    if isinstance(as_of, pd.Series):
        return as_of.reindex(users).astype("int64")
    return pd.Series(int(as_of), index=users, dtype="int64")


def user_features(events: pd.DataFrame, as_of: object = None) -> pd.DataFrame:
    """One row per ``userId`` with events before its ``as_of`` (a scalar ms, a Series by userId, or
    None: each user's latest ``ts`` + 1 ms); columns :data:`FEATURE_NAMES` then :data:`PROFILE_COLUMNS`.

    ``events`` need the 18 fields (or at least ts, userId, sessionId, page, level, artist, registration,
    gender, userAgent, location); logged-out events (empty ``userId``) are ignored.
    """
    e = events[events["userId"].notna() & (events["userId"].astype(str) != "")]
    e = e.assign(userId=e["userId"].astype(str), ts=pd.to_numeric(e["ts"]).astype("int64"))
    users = pd.Index(sorted(e["userId"].unique()), name="userId")
    cutoff = _as_of_per_user(users, e, as_of)
    e = e[e["ts"].to_numpy() < e["userId"].map(cutoff).to_numpy()]
    users = pd.Index(sorted(e["userId"].unique()), name="userId")
    cutoff = cutoff.reindex(users)
    if e.empty:
        return pd.DataFrame(columns=[*FEATURE_NAMES, *PROFILE_COLUMNS], index=users)
    e = e.sort_values(["userId", "ts"], kind="stable")
    grouped = e.groupby("userId", sort=True)
    out = pd.DataFrame(index=users)
    pages = pd.crosstab(e["userId"], e["page"]).reindex(index=users, fill_value=0)
    sessions = e.groupby(["userId", "sessionId"])["ts"].agg(["min", "max"])
    session_ms = (sessions["max"] - sessions["min"]).groupby(level=0).sum().reindex(users)
    n_sessions = sessions.groupby(level=0).size().reindex(users)
    hours = np.maximum((session_ms + n_sessions * 5 * 60_000) / HOUR_MS, 0.1)  # +5 min per session
    for page, stem in COUNTED_PAGES.items():
        count = pages[page] if page in pages else pd.Series(0, index=users)
        out[f"n_{stem}"] = count.astype(float)
        out[f"{stem}_per_hour"] = count / hours
    first_ts, last_ts = grouped["ts"].min(), grouped["ts"].max()
    registration = pd.to_numeric(grouped["registration"].max(), errors="coerce").fillna(first_ts)
    span_days = np.maximum((cutoff - np.minimum(first_ts, registration)) / DAY_MS, 1.0)
    out["n_events"] = grouped.size().astype(float)
    out["n_sessions"] = n_sessions.astype(float)
    out["sessions_per_day"] = n_sessions / span_days
    out["songs_per_session"] = out["n_songs"] / n_sessions
    out["session_minutes_mean"] = session_ms / n_sessions / 60_000
    out["distinct_artists"] = (
        e[e["page"] == "NextSong"]
        .groupby("userId")["artist"]
        .nunique()
        .reindex(users, fill_value=0)
        .astype(float)
    )
    out["days_since_registration"] = (cutoff - registration) / DAY_MS
    out["days_since_last_event"] = (cutoff - last_ts) / DAY_MS
    out["days_active"] = e.assign(day=e["ts"] // DAY_MS).groupby("userId")["day"].nunique().astype(float)
    recent = e[(e["page"] == "NextSong") & (e["ts"] >= e["userId"].map(cutoff) - 7 * DAY_MS)]
    out["songs_last_7d"] = recent.groupby("userId").size().reindex(users, fill_value=0).astype(float)
    out["songs_last_7d_share"] = out["songs_last_7d"] / np.maximum(out["n_songs"], 1.0)
    thumbs = out["n_thumbs_up"] + out["n_thumbs_down"]
    out["thumbs_down_share"] = np.where(thumbs > 0, out["n_thumbs_down"] / np.maximum(thumbs, 1), 0.0)
    level = grouped["level"].last()
    out["paid"] = (level == "paid").astype(float)
    # Vectorised (a per-user Python lambda was half of this function's time): a row whose level
    # differs from the user's previous row is a change; each user's first row always differs.
    changed = (e["level"] != grouped["level"].shift()).groupby(e["userId"]).sum()
    out["level_changes"] = (changed.reindex(users) - 1).astype(float)
    gender = grouped["gender"].last()
    out["male"] = (gender == "M").astype(float)
    os_name = grouped["userAgent"].last().map(operating_system)
    for name in OPERATING_SYSTEMS:
        out[f"os_{name}"] = (os_name == name).astype(float)
    out["gender"] = gender.fillna("")
    out["level"] = level.fillna("")
    out["state"] = grouped["location"].last().map(state)
    out["os"] = os_name
    out["first_ts"], out["last_ts"] = first_ts, last_ts
    return out[[*FEATURE_NAMES, *PROFILE_COLUMNS]]


#: The columns of :func:`examples`.
EXAMPLE_COLUMNS = ("userId", *FEATURE_NAMES, *PROFILE_COLUMNS, "cutoff", "as_of", "churn", "example_id")


def cancellations(events: pd.DataFrame) -> pd.Series:
    """First ``Cancellation Confirmation`` time per user (ms)."""
    cancelled = events[events["page"] == CANCEL_PAGE]
    return cancelled.assign(userId=cancelled["userId"].astype(str)).groupby("userId")["ts"].min()


def weekly_cutoffs(first_ts: int, last_ts: int, horizon_days: float, every_days: float = 7.0) -> list[int]:
    """Observation cutoffs (ms, UTC midnights): a week after the data starts, then every week, while a
    full horizon of data follows the cutoff (an unresolved label would read as "stayed")."""
    start = (int(first_ts) // DAY_MS + int(every_days)) * DAY_MS
    stop = int(last_ts) - int(horizon_days * DAY_MS)
    return list(range(start, stop + 1, int(every_days * DAY_MS)))


def examples(
    events: pd.DataFrame, cutoffs: list[int], horizon_days: float, cancelled: pd.Series | None = None
) -> pd.DataFrame:
    """One labelled row per (user, cutoff): features from the events before the cutoff, **as of the
    user's last event before it** (``as_of`` = that ``ts`` + 1 ms, exactly as the served pyfunc sees a
    user: as of their latest ``ts``), ``churn`` = a Cancellation Confirmation in
    ``[as_of, as_of + horizon)``. Users who cancelled before the cutoff are excluded; a user silent
    since an earlier cutoff (same ``as_of``) keeps only the first of these identical rows.

    ``cancelled`` (first cancellation per user) defaults to the one in ``events``; pass it when
    ``events`` is a slice of users whose cancellation may be elsewhere (it never is: a user is one
    group).
    """
    cancelled = cancellations(events) if cancelled is None else cancelled
    frames = []
    horizon = int(horizon_days * DAY_MS)
    ts = pd.to_numeric(events["ts"])
    for cutoff in cutoffs:
        features = user_features(events[(ts < cutoff).to_numpy()])  # as of each user's latest ts
        if features.empty:
            continue
        as_of = features["last_ts"].astype("int64") + 1
        when = cancelled.reindex(features.index)
        alive = when.isna() | (when >= as_of)
        features, when, as_of = features[alive.to_numpy()], when[alive.to_numpy()], as_of[alive.to_numpy()]
        label = (when >= as_of) & (when < as_of + horizon)
        frames.append(
            features.reset_index().assign(
                cutoff=cutoff, as_of=as_of.to_numpy(), churn=np.where(label.to_numpy(), "churn", "stay")
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(EXAMPLE_COLUMNS))
    out = pd.concat(frames, ignore_index=True).drop_duplicates(["userId", "as_of"], keep="first")
    day = pd.to_datetime(out["cutoff"], unit="ms", utc=True).dt.strftime("%Y-%m-%d")
    return out.assign(example_id=out["userId"] + "@" + day).reset_index(drop=True)

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
from dataclasses import dataclass

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
    "Submit Downgrade": "submit_downgrade",
    "Upgrade": "upgrade",
    # Visits of the cancel page itself (eventsim: Cancel is followed by the confirmation at once, so
    # one before a cutoff without a confirmation is a user who turned back).
    "Cancel": "cancel_page",
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
    "songs_trend_7d",
    "events_per_active_day",
    "adverts_per_session",
    "adverts_per_day",
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


def _cutoffs(codes: np.ndarray, users: pd.Index, ts: np.ndarray, as_of: object) -> np.ndarray:
    """``as_of`` per user code (ms)."""
    if as_of is None:  # each user's latest event, included (features strictly before as_of)
        latest = np.full(len(users), np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(latest, codes, ts)
        return latest + 1
    if isinstance(as_of, pd.Series):
        return as_of.reindex(users).astype("int64").to_numpy()
    return np.full(len(users), int(as_of), dtype=np.int64)


@dataclass
class _UserRows:
    """The events one call reads, by user then time, as arrays: ``codes`` numbers the users
    (``users[code]``), ``starts`` are each user's first row, ``cutoff`` each user's ``as_of``;
    :meth:`column` takes a field in that order (no copy of the whole frame)."""

    events: pd.DataFrame
    taken: np.ndarray  # positions in ``events``, by user then time
    codes: np.ndarray
    users: pd.Index
    starts: np.ndarray
    cutoff: np.ndarray
    ts: np.ndarray

    @property
    def ends(self) -> np.ndarray:
        """Each user's last row."""
        return np.r_[self.starts[1:] - 1, len(self.codes) - 1]

    def column(self, name: str) -> np.ndarray:
        return self.events[name].to_numpy()[self.taken]

    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Rows per user (where ``mask``), as floats."""
        codes = self.codes if mask is None else self.codes[mask]
        return np.bincount(codes, minlength=len(self.users)).astype(float)

    def distinct(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Distinct non-null ``values`` per user (where ``mask``)."""
        codes = self.codes if mask is None else self.codes[mask]
        value_codes = pd.factorize(values if mask is None else values[mask])[0]  # -1: null
        pairs = pd.DataFrame({"u": codes, "v": value_codes})
        pairs = pairs[value_codes >= 0].drop_duplicates()
        return np.bincount(pairs["u"].to_numpy(), minlength=len(self.users)).astype(float)

    def last_valid(self, name: str) -> pd.Series:
        """Each user's last non-null ``name`` (NaN for a user without one), by user code: each user's
        last row, then, for the few users whose last row lacks it, the row before, and so on."""
        values = self.events[name].to_numpy()
        position = self.ends
        out = np.full(len(self.users), np.nan, dtype=object)
        pending = np.arange(len(self.users))
        while len(pending):
            found = values[self.taken[position[pending]]]
            valid = ~pd.isna(found)
            out[pending[valid]] = found[valid]
            pending = pending[~valid]
            position[pending] -= 1
            pending = pending[position[pending] >= self.starts[pending]]
        return pd.Series(out)


def _user_rows(events: pd.DataFrame, as_of: object) -> _UserRows:
    """Logged-in events strictly before their user's ``as_of``, by user then ``ts`` (stable)."""
    user_id = events["userId"]
    kept = np.flatnonzero((user_id.notna() & (user_id.astype(str) != "")).to_numpy())
    codes, users = pd.factorize(user_id.iloc[kept].astype(str).to_numpy(), sort=True)
    users = pd.Index(users, name="userId")
    ts = pd.to_numeric(events["ts"]).to_numpy()[kept].astype("int64")
    cutoff = _cutoffs(codes, users, ts, as_of)
    before = ts < cutoff[codes]
    kept, codes, ts = kept[before], codes[before], ts[before]
    present, codes = np.unique(codes, return_inverse=True)  # users left, still sorted
    order = np.lexsort((ts, codes))
    codes = codes[order]
    return _UserRows(
        events=events,
        taken=kept[order],
        codes=codes,
        users=users[present],
        starts=np.r_[0, np.flatnonzero(np.diff(codes)) + 1] if len(codes) else np.array([], dtype=int),
        cutoff=cutoff[present],
        ts=ts[order],
    )


def _activity_features(rows: _UserRows) -> dict[str, np.ndarray]:
    """Page counts and rates, sessions, artists, days active, recent songs."""
    n, ts = len(rows.users), rows.ts
    page_codes, pages = pd.factorize(rows.column("page"))  # -1: no page
    pages = pd.Index(pages)
    per_page = np.bincount(rows.codes * (len(pages) + 1) + page_codes + 1, minlength=n * (len(pages) + 1))
    per_page = per_page.reshape(n, len(pages) + 1)[:, 1:].astype(float)  # column 0: no page
    sessions = pd.DataFrame({"u": rows.codes, "s": pd.to_numeric(rows.column("sessionId")), "ts": ts})
    spans = sessions.groupby(["u", "s"], sort=False)["ts"].agg(["min", "max"])
    session_user = spans.index.get_level_values(0).to_numpy()
    session_ms = np.bincount(session_user, weights=(spans["max"] - spans["min"]).to_numpy(), minlength=n)
    n_sessions = np.bincount(session_user, minlength=n).astype(float)
    # A user whose events carry no sessionId has no sessions: NaN, not 0, for what divides by them.
    session_ms = np.where(n_sessions > 0, session_ms, np.nan)
    n_sessions = np.where(n_sessions > 0, n_sessions, np.nan)
    hours = np.maximum((session_ms + n_sessions * 5 * 60_000) / HOUR_MS, 0.1)  # +5 min per session
    out: dict[str, np.ndarray] = {}
    for name, stem in COUNTED_PAGES.items():
        out[f"n_{stem}"] = per_page[:, pages.get_loc(name)] if name in pages else np.zeros(n)
        out[f"{stem}_per_hour"] = out[f"n_{stem}"] / hours
    songs = page_codes == (pages.get_loc("NextSong") if "NextSong" in pages else -2)
    out["n_events"] = rows.count()
    out["n_sessions"] = n_sessions
    out["songs_per_session"] = out["n_songs"] / n_sessions
    out["session_minutes_mean"] = session_ms / n_sessions / 60_000
    out["distinct_artists"] = rows.distinct(rows.column("artist"), songs)
    out["days_active"] = rows.distinct(ts // DAY_MS)
    out["songs_last_7d"] = rows.count(songs & (ts >= rows.cutoff[rows.codes] - 7 * DAY_MS))
    out["songs_last_7d_share"] = out["songs_last_7d"] / np.maximum(out["n_songs"], 1.0)
    out["events_per_active_day"] = out["n_events"] / np.maximum(out["days_active"], 1.0)
    # eventsim's cancellations mostly follow an advert (Roll Advert -> Cancel): adverts a session
    # shows, times sessions a day (in _time_features), is the exposure that drives free users' churn.
    out["adverts_per_session"] = out["n_adverts"] / n_sessions
    thumbs = out["n_thumbs_up"] + out["n_thumbs_down"]
    out["thumbs_down_share"] = np.where(thumbs > 0, out["n_thumbs_down"] / np.maximum(thumbs, 1), 0.0)
    return out


def _time_features(rows: _UserRows, activity: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """First and last event, account age, sessions and adverts per day, and the recent trend (songs a
    day in the last 7 days against the days before them, as a log ratio: 0 is steady), all relative
    to ``as_of``."""
    n_sessions = activity["n_sessions"]
    ts, cutoff = rows.ts, rows.cutoff
    first_ts = ts[rows.starts]
    last_ts = ts[rows.ends]
    registration = np.full(len(rows.users), -np.inf)
    np.fmax.at(registration, rows.codes, pd.to_numeric(rows.column("registration"), errors="coerce"))
    registration = np.where(np.isfinite(registration), registration, first_ts)
    span_days = np.maximum((cutoff - np.minimum(first_ts, registration)) / DAY_MS, 1.0)
    recent_rate = activity["songs_last_7d"] / 7.0
    earlier_rate = (activity["n_songs"] - activity["songs_last_7d"]) / np.maximum(span_days - 7.0, 1.0)
    return {
        "sessions_per_day": n_sessions / span_days,
        "adverts_per_day": activity["adverts_per_session"] * n_sessions / span_days,
        "songs_trend_7d": np.log1p(recent_rate) - np.log1p(earlier_rate),
        "days_since_registration": (cutoff - registration) / DAY_MS,
        "days_since_last_event": (cutoff - last_ts) / DAY_MS,
        "first_ts": first_ts,
        "last_ts": last_ts,
    }


def _profile_features(rows: _UserRows) -> dict[str, np.ndarray]:
    """Level (and its changes), gender, device and state: each user's latest known value."""
    level, gender = rows.last_valid("level"), rows.last_valid("gender")
    os_name = rows.last_valid("userAgent").map(operating_system)
    # A row whose level differs from the user's previous row is a change (a missing level always
    # differs); each user's first row always differs, hence the - 1.
    level_codes = pd.factorize(rows.column("level"))[0]  # -1: missing
    previous = np.r_[-1, level_codes[:-1]]
    previous[rows.starts] = -1
    changed = (level_codes != previous) | (level_codes < 0) | (previous < 0)
    return {
        "paid": (level == "paid").astype(float).to_numpy(),
        "level_changes": rows.count(changed) - 1,
        "male": (gender == "M").astype(float).to_numpy(),
        **{f"os_{name}": (os_name == name).astype(float).to_numpy() for name in OPERATING_SYSTEMS},
        "gender": gender.fillna("").to_numpy(),
        "level": level.fillna("").to_numpy(),
        "state": rows.last_valid("location").map(state).to_numpy(),
        "os": os_name.to_numpy(),
    }


def user_features(events: pd.DataFrame, as_of: object = None) -> pd.DataFrame:
    """One row per ``userId`` with events before its ``as_of`` (a scalar ms, a Series by userId, or
    None: each user's latest ``ts`` + 1 ms); columns :data:`FEATURE_NAMES` then :data:`PROFILE_COLUMNS`.

    ``events`` need the 18 fields (or at least ts, userId, sessionId, page, level, artist, registration,
    gender, userAgent, location); logged-out events (empty ``userId``) are ignored.

    Users are integer codes (``factorize``) and per-user counts ``bincount``s over them: grouping
    by the id strings (``crosstab`` and a dozen ``groupby``s) was most of the ETL's pandas time.
    """
    rows = _user_rows(events, as_of)
    if not len(rows.codes):
        return pd.DataFrame(columns=[*FEATURE_NAMES, *PROFILE_COLUMNS], index=rows.users)
    activity = _activity_features(rows)
    out = {**activity, **_time_features(rows, activity), **_profile_features(rows)}
    return pd.DataFrame(out, index=rows.users)[[*FEATURE_NAMES, *PROFILE_COLUMNS]]


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
    """One labelled row per (user, cutoff), for every user with events before the cutoff who has not
    cancelled by then: features from those events, **as of the user's last event before it**
    (``as_of`` = that ``ts`` + 1 ms, exactly as the served pyfunc sees a user's events: as of their
    latest ``ts``), ``churn`` = a Cancellation Confirmation in ``[cutoff, cutoff + horizon)``.

    This is the question a user of the scores asks on a given day ("who of my customers cancels in
    the next 30 days?") and how the champion is judged: every customer, silent ones included, at
    each cutoff. A user silent since an earlier cutoff therefore repeats identical features with a
    label that can change (more likely "stay" the longer they stay away); the trainers weight rows so
    that each user counts once in total, whatever their number of cutoffs.

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
        alive = (when.isna() | (when >= cutoff)).to_numpy()
        features, when, as_of = features[alive], when[alive], as_of[alive]
        label = (when >= cutoff) & (when < cutoff + horizon)
        frames.append(
            features.reset_index().assign(
                cutoff=cutoff, as_of=as_of.to_numpy(), churn=np.where(label.to_numpy(), "churn", "stay")
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(EXAMPLE_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    day = pd.to_datetime(out["cutoff"], unit="ms", utc=True).dt.strftime("%Y-%m-%d")
    return out.assign(example_id=out["userId"] + "@" + day).reset_index(drop=True)

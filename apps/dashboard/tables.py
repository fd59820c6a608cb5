"""The two tables the dashboard reads, loaded once per change and filtered per request.

The tweets assets rewrite ``scored_tweets.parquet`` and ``links.parquet`` whenever they run; the
dashboard never writes them. They are small (thousands of rows), so every request filters the whole
table in memory; what is worth saving is the Parquet decode and the per-row link preparation, so a
prepared copy is kept until either file's modification time or size changes. A half-written file
read while an asset replaces it raises :class:`TableError`, which the server answers with 503: the
next request (after the write) reads the new file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

SCORED_FILE = "scored_tweets.parquet"
LINKS_FILE = "links.parquet"
EMPTY_MESSAGE = "no scored tweets yet: run flywheel materialize tweets"
#: Columns the page cannot do without; the others (``user``, ``urls``, ``prediction``,
#: ``model_version``) are filled in when an older or partial table lacks them.
REQUIRED_COLUMNS: tuple[str, ...] = ("id", "created_at", "text", "probability_ai")
#: Links to Twitter itself (the tweet's own ``/i/web/status`` page, quoted tweets, ``t.co``) are
#: listed under the tweet but say nothing about which sites AI tweets point to, so the chart skips them,
#: as the links asset does.
TWITTER_DOMAINS: frozenset[str] = frozenset({"twitter.com", "mobile.twitter.com", "t.co", "x.com"})

_Signature = tuple[tuple[str, int, int], ...]


class TableError(Exception):
    """A table exists but cannot be used (unreadable, or missing a required column)."""


def domain_of(url: str) -> str:
    """Host of ``url``, lowercased, without ``www.`` or port; empty when it is not a web URL.

    Only used for URLs ``links.parquet`` does not list (or when it is absent), so the chart still
    groups by site; the asset's own domain wins whenever it has one.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").removeprefix("www.")
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https"):
        return ""
    labels = host.split(".")
    return host if len(labels) >= 2 and len(labels[-1]) >= 2 and all(labels) else ""


def _signature(path: Path) -> _Signature | None:
    """What changes when the table is rewritten; a folder (a partitioned dataset) counts each file."""
    try:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            stats = [(str(p.relative_to(path)), p.stat()) for p in files]
        elif path.is_file():
            stats = [("", path.stat())]
        else:
            return None
    except FileNotFoundError:  # removed between the check and the stat
        return None
    return tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)


def _urls(cell: object) -> list[str]:
    """A ``urls`` cell (list, numpy array, a lone string, None or NaN) as distinct, non-empty strings."""
    if isinstance(cell, str):
        return [cell.strip()] if cell.strip() else []
    if cell is None or not isinstance(cell, Iterable):
        return []
    return list(dict.fromkeys(str(u).strip() for u in cell if u is not None and str(u).strip()))


def _read(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=list(columns) if columns else None)
    except Exception as exc:  # pyarrow raises several types for a truncated or foreign file
        raise TableError(f"{path.name} could not be read: {exc}") from exc


def _domain_map(path: Path) -> dict[str, str]:
    """``url -> domain`` from the links table, so the chart groups URLs exactly as the asset did."""
    try:
        links = _read(path)
    except TableError:
        return {}  # the chart falls back to its own domains; the tweets are what matter
    if not {"url", "domain"} <= set(links.columns):
        return {}
    pairs = links[["url", "domain"]].dropna()
    return {str(u): str(d) for u, d in zip(pairs["url"], pairs["domain"], strict=True) if str(d)}


def prepare(scored: pd.DataFrame, domains: dict[str, str]) -> pd.DataFrame:
    """The scored table in the shape filters and responses need: UTC times, a list of
    ``{url, domain}`` per tweet, and the distinct non-Twitter domains the chart counts."""
    missing = [c for c in REQUIRED_COLUMNS if c not in scored.columns]
    if missing:
        raise TableError(f"{SCORED_FILE} lacks column(s) {', '.join(missing)}")
    scored = scored.reset_index(drop=True)
    n = len(scored)

    def optional(name: str) -> pd.Series:
        return scored[name] if name in scored else pd.Series([None] * n, dtype=object)

    frame = pd.DataFrame(
        {
            "id": scored["id"].astype(str),
            "created_at": pd.to_datetime(scored["created_at"], utc=True, errors="coerce"),
            "text": scored["text"].fillna("").astype(str),
            "user": optional("user").fillna("").astype(str),
            "probability_ai": pd.to_numeric(scored["probability_ai"], errors="coerce"),
            "model_version": optional("model_version").fillna("").astype(str),
        }
    )
    if "prediction" in scored:
        frame["prediction"] = pd.to_numeric(scored["prediction"], errors="coerce").fillna(0).astype(int)
    else:  # the model's decision is unknown: the usual 0.5 threshold stands in for it
        frame["prediction"] = (frame["probability_ai"] >= 0.5).astype(int)
    url_cells = scored["urls"].tolist() if "urls" in scored else [None] * n
    links: list[list[dict[str, str]]] = []
    for cell in url_cells:
        links.append([{"url": u, "domain": domains.get(u) or domain_of(u)} for u in _urls(cell)])
    frame["links"] = links
    frame["chart_domains"] = [
        list(dict.fromkeys(x["domain"] for x in row if x["domain"] and x["domain"] not in TWITTER_DOMAINS))
        for row in links
    ]
    # Rows without a time or a probability cannot be placed by any filter; they are left out, not guessed.
    frame = frame.dropna(subset=["created_at", "probability_ai"])
    return frame.sort_values(["created_at", "id"], ascending=[False, False], ignore_index=True)


@dataclass(frozen=True)
class Filters:
    """What the page asks for. ``min_probability=None`` means the model's own decision (``prediction``)."""

    min_probability: float | None = None
    since: date | None = None
    until: date | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "min_probability": self.min_probability,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def _day_start(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time.min, tzinfo=UTC))


def select(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """AI tweets under the filters, newest first. Dates are whole UTC days and both ends are kept,
    so ``since=until=D`` is the tweets of day D."""
    if filters.min_probability is None:
        mask = frame["prediction"] == 1
    else:
        mask = frame["probability_ai"] >= filters.min_probability
    if filters.since is not None:
        mask &= frame["created_at"] >= _day_start(filters.since)
    if filters.until is not None:
        mask &= frame["created_at"] < _day_start(filters.until + timedelta(days=1))
    return frame[mask]


def top_domains(selected: pd.DataFrame, top: int) -> list[dict[str, Any]]:
    """Domains by how many of the selected tweets link to them (a tweet counts once per domain), with
    how many distinct URLs of that domain they shared; ties by name, so the chart is stable."""
    tweets: dict[str, int] = {}
    urls: dict[str, set[str]] = {}
    for row_domains, row_links in zip(selected["chart_domains"], selected["links"], strict=True):
        for domain in row_domains:
            tweets[domain] = tweets.get(domain, 0) + 1
        for link in row_links:
            if link["domain"] in row_domains:
                urls.setdefault(link["domain"], set()).add(link["url"])
    ranked = sorted(tweets.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"domain": d, "tweets": n, "links": len(urls.get(d, ()))} for d, n in ranked]


def tweet_json(row: dict[str, Any]) -> dict[str, Any]:
    """One tweet as the API returns it: plain JSON types, times in ISO 8601 UTC."""
    created: pd.Timestamp = row["created_at"]
    return {
        "id": row["id"],
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user": row["user"],
        "text": row["text"],
        "probability_ai": round(float(row["probability_ai"]), 4),
        "prediction": int(row["prediction"]),
        "model_version": row["model_version"],
        "links": list(row["links"]),
    }


class Tables:
    """The prepared scored table under ``tables_dir``, re-read only when a file changed."""

    def __init__(self, tables_dir: Path):
        self.tables_dir = Path(tables_dir)
        self._lock = threading.Lock()
        self._key: tuple[_Signature | None, _Signature | None] | None = None
        self._frame: pd.DataFrame | None = None

    @property
    def scored_path(self) -> Path:
        return self.tables_dir / SCORED_FILE

    @property
    def links_path(self) -> Path:
        return self.tables_dir / LINKS_FILE

    def present(self) -> dict[str, bool]:
        return {"scored_tweets": self.scored_path.exists(), "links": self.links_path.exists()}

    def frame(self) -> pd.DataFrame | None:
        """The prepared tweets, or None while the scoring asset has not written its table yet."""
        key = (_signature(self.scored_path), _signature(self.links_path))
        if key[0] is None:
            return None
        with self._lock:  # requests run in a thread pool: one of them reads, the others wait and reuse
            if key != self._key:
                domains = _domain_map(self.links_path) if key[1] is not None else {}
                self._frame = prepare(_read(self.scored_path), domains)
                self._key = key
            return self._frame

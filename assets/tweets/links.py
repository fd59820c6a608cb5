"""The links AI tweets share: what the seed project stored as its end product ("extract the web links
from tweets and store the urls"), as a table of expanded URL, domain and how many AI tweets shared it.

Parsed tweets carry expanded ``urls``; rows without them (tables of ``id,text``) fall back to links
found in the text. Links to Twitter itself (quoted tweets, the ``t.co`` short form) say nothing about
the web outside and are left out by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

LINK_COLUMNS: tuple[str, ...] = ("url", "domain", "count", "domain_count")
TWITTER_DOMAINS: frozenset[str] = frozenset({"twitter.com", "mobile.twitter.com", "t.co", "x.com"})
_URL = re.compile(r"https?://[^\s<>\"'…]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def domain_of(url: str) -> str:
    """The host of ``url``, lowercased, without ``www.`` and port; empty for something that is not a
    URL or whose host has no top-level domain, such as a link cut off by a truncated text (``https://t.c``)."""
    try:
        host = (urlsplit(url.strip()).hostname or "").removeprefix("www.")
    except ValueError:
        return ""
    labels = host.split(".")
    return host if len(labels) >= 2 and len(labels[-1]) >= 2 and all(labels) else ""


def urls_in_text(text: str) -> list[str]:
    """Links written in a text, trailing punctuation removed, in order, without repeats."""
    return list(dict.fromkeys(m.rstrip(_TRAILING) for m in _URL.findall(text or "")))


def _tweet_urls(row_urls: object, text: object) -> list[str]:
    if isinstance(row_urls, Iterable) and not isinstance(row_urls, str | bytes):
        return [str(u) for u in row_urls if u]
    return urls_in_text(text if isinstance(text, str) else "")


def links_table(
    tweets: pd.DataFrame,
    is_ai: Sequence[bool] | np.ndarray | pd.Series,
    exclude_domains: frozenset[str] = TWITTER_DOMAINS,
) -> pd.DataFrame:
    """One row per URL shared by tweets flagged in ``is_ai`` (aligned with ``tweets`` by position):
    ``count`` = AI tweets sharing it (a tweet listing a URL twice counts once), ``domain_count`` = AI
    tweets linking to its domain. Sorted by count, then URL, so the table is stable across runs."""
    flags = np.asarray(is_ai, dtype=bool)
    if len(flags) != len(tweets):
        raise ValueError(f"is_ai has {len(flags)} values for {len(tweets)} tweets")
    chosen = tweets[flags]
    urls = chosen["urls"] if "urls" in chosen.columns else pd.Series([None] * len(chosen), index=chosen.index)
    pairs = [
        (position, url, domain_of(url))
        for position, (row_urls, text) in enumerate(zip(urls, chosen["text"], strict=True))
        for url in dict.fromkeys(_tweet_urls(row_urls, text))
    ]
    shared = pd.DataFrame(pairs, columns=["tweet", "url", "domain"])
    shared = shared[(shared["domain"] != "") & ~shared["domain"].isin(exclude_domains)]
    if shared.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if "count" in c else object) for c in LINK_COLUMNS})
    per_url = (
        shared.groupby(["url", "domain"], as_index=False)["tweet"]
        .nunique()
        .rename(columns={"tweet": "count"})
    )
    per_domain = shared.groupby("domain")["tweet"].nunique().rename("domain_count")
    table = per_url.join(per_domain, on="domain")
    table = table.sort_values(["count", "url"], ascending=[False, True], ignore_index=True)
    return table.astype({"count": "int64", "domain_count": "int64"})[list(LINK_COLUMNS)]

"""Links of AI tweets: expanded URLs with their domains and counts, Twitter's own links left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.tweets.links import LINK_COLUMNS, domain_of, links_table, urls_in_text
from assets.tweets.parsing import read_landing_folder

TWEETS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tweets"


def test_domain_of() -> None:
    assert domain_of("https://www.Forbes.com:443/sites/x?y=1") == "forbes.com"
    assert domain_of("http://blog.example.co.uk/a") == "blog.example.co.uk"
    assert [domain_of(u) for u in ("https://t.c", "not a url", "https://localhost/x", "http://[::1")] == [
        ""
    ] * 4


def test_urls_in_text() -> None:
    text = "Read https://t.co/AbC. and (https://example.com/a?b=1), again https://t.co/AbC https://t.c…"
    assert urls_in_text(text) == ["https://t.co/AbC", "https://example.com/a?b=1", "https://t.c"]
    assert urls_in_text("") == [] and urls_in_text(None) == []  # type: ignore[arg-type]


def test_links_table_counts_ai_tweets_per_url_and_domain() -> None:
    tweets = pd.DataFrame(
        {
            "text": ["a", "b", "c", "d", "e https://example.org/x"],
            "urls": [
                ["https://arxiv.org/abs/1", "https://arxiv.org/abs/1", "https://twitter.com/u/status/1"],
                ["https://arxiv.org/abs/1", "https://www.arxiv.org/abs/2"],
                ["https://news.site/covid"],
                np.array(["https://arxiv.org/abs/2"]),  # lists come back from Parquet as arrays
                None,  # no parsed links (a table row): links in the text count
            ],
        }
    )
    table = links_table(tweets, [True, True, False, True, True])
    assert list(table.columns) == list(LINK_COLUMNS)
    assert table.to_dict("records") == [
        {"url": "https://arxiv.org/abs/1", "domain": "arxiv.org", "count": 2, "domain_count": 3},
        {"url": "https://arxiv.org/abs/2", "domain": "arxiv.org", "count": 1, "domain_count": 3},
        {"url": "https://example.org/x", "domain": "example.org", "count": 1, "domain_count": 1},
        {"url": "https://www.arxiv.org/abs/2", "domain": "arxiv.org", "count": 1, "domain_count": 3},
    ]
    assert "news.site" not in set(table["domain"])  # not an AI tweet
    with_twitter = links_table(tweets, [True] * 5, exclude_domains=frozenset())
    assert "twitter.com" in set(with_twitter["domain"])
    with pytest.raises(ValueError, match="4 values for 5 tweets"):
        links_table(tweets, [True] * 4)


def test_links_of_real_tweets() -> None:
    tweets = read_landing_folder(TWEETS / "raw").tweets
    table = links_table(tweets, np.ones(len(tweets), dtype=bool))
    assert len(table) > 50 and (table["count"] >= 1).all() and table["url"].is_unique
    assert not table["domain"].isin(["twitter.com", "t.co"]).any()
    assert table["count"].is_monotonic_decreasing
    empty = links_table(tweets, np.zeros(len(tweets), dtype=bool))
    assert empty.empty and list(empty.columns) == list(LINK_COLUMNS) and empty["count"].dtype == "int64"

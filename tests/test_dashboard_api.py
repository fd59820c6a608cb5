"""The dashboard's JSON API over a small scored table written in ``tmp_path``: filters by probability
and date, domain counts that follow the filters, 422 on bad input, and the empty state before the
tweets assets have run. The tables follow the contract of the tweets assets (``scored_tweets.parquet``,
``links.parquet``); the rows are made up so every expected number can be counted by hand.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from apps.dashboard import tables as dashboard_tables
from apps.dashboard.server import create_app
from apps.dashboard.tables import EMPTY_MESSAGE

BASE_URL = "http://127.0.0.1:8766"  # the Host a browser sends to `flywheel dashboard`; others are refused

# id, created_at (UTC), user, probability_ai, prediction, urls. The model's threshold is 0.6 here, so
# "b5" (0.55) is above the page's default 0.5 yet not predicted AI: the two definitions differ.
ROWS = [
    (
        "b1",
        "2024-03-01T09:00:00",
        "ml_news",
        0.95,
        1,
        ["https://openai.com/x", "https://export.arxiv.org/abs/1"],
    ),
    ("b2", "2024-03-02T12:00:00", "datasci", 0.80, 1, ["https://arxiv.org/abs/2", "https://twitter.com/i/2"]),
    ("b3", "2024-03-03T23:59:00", "", 0.62, 1, ["https://www.github.com/foo/bar"]),
    ("b4", "2024-03-03T08:00:00", "gardener", 0.40, 0, ["https://example.com/roses"]),
    ("b5", "2024-03-04T00:00:00", "stats_fan", 0.55, 0, ["https://arxiv.org/abs/3"]),
    ("b6", "2024-03-05T10:30:00", "chef", 0.10, 0, []),
]


def _write_tables(folder: Path, rows: list[tuple] = ROWS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    scored = pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "created_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "text": [f"tweet {r[0]} <b>about</b> models" for r in rows],
            "user": [r[2] for r in rows],
            "urls": [r[5] for r in rows],
            "probability_ai": [r[3] for r in rows],
            "prediction": [r[4] for r in rows],
            "model_version": ["7"] * len(rows),
        }
    )
    scored.to_parquet(folder / "scored_tweets.parquet", index=False)
    # The links asset normalises export.arxiv.org to arxiv.org: the dashboard must follow its domains.
    links = pd.DataFrame(
        {
            "url": ["https://export.arxiv.org/abs/1", "https://arxiv.org/abs/2", "https://openai.com/x"],
            "domain": ["arxiv.org", "arxiv.org", "openai.com"],
            "tweets": [1, 1, 1],
            "first_seen": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-01"], utc=True),
            "last_seen": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-01"], utc=True),
        }
    )
    links.to_parquet(folder / "links.parquet", index=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "tables" / "tweets"
    _write_tables(path)
    return path


@pytest.fixture
def client(folder: Path) -> TestClient:
    return TestClient(create_app(folder), base_url=BASE_URL)


def _ids(client: TestClient, **params: object) -> list[str]:
    response = client.get("/api/tweets", params=params)
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["tweets"]]


def _domains(client: TestClient, **params: object) -> dict[str, int]:
    response = client.get("/api/domains", params=params)
    assert response.status_code == 200, response.text
    return {d["domain"]: d["tweets"] for d in response.json()["domains"]}


def test_without_a_threshold_the_models_own_decision_is_used(client: TestClient) -> None:
    body = client.get("/api/tweets").json()
    assert body["ready"] is True
    assert [t["id"] for t in body["tweets"]] == ["b3", "b2", "b1"]  # newest first
    assert body["count"] == body["returned"] == 3
    assert body["scored"] == 6
    assert body["range"] == {"first": "2024-03-01", "last": "2024-03-05"}
    first = body["tweets"][-1]
    assert first == {
        "id": "b1",
        "created_at": "2024-03-01T09:00:00Z",
        "user": "ml_news",
        "text": "tweet b1 <b>about</b> models",  # raw text: the page inserts it as text, never as HTML
        "probability_ai": 0.95,
        "prediction": 1,
        "model_version": "7",
        "links": [
            {"url": "https://openai.com/x", "domain": "openai.com"},
            {"url": "https://export.arxiv.org/abs/1", "domain": "arxiv.org"},
        ],
    }


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.5, ["b5", "b3", "b2", "b1"]),
        (0.62, ["b3", "b2", "b1"]),  # the bound is kept
        (0.9, ["b1"]),
        (0.99, []),
        (0, ["b6", "b5", "b3", "b4", "b2", "b1"]),
    ],
)
def test_probability_filter(client: TestClient, threshold: float, expected: list[str]) -> None:
    assert _ids(client, min_probability=threshold) == expected


def test_date_filter_keeps_whole_utc_days_at_both_ends(client: TestClient) -> None:
    assert _ids(client, min_probability=0.5, since="2024-03-02", until="2024-03-03") == ["b3", "b2"]
    assert _ids(client, min_probability=0, since="2024-03-03", until="2024-03-03") == ["b3", "b4"]
    assert _ids(client, min_probability=0.5, since="2024-03-04") == ["b5"]
    assert _ids(client, min_probability=0.5, until="2024-03-01") == ["b1"]
    assert _ids(client, since="2024-04-01") == []


def test_limit_caps_the_rows_not_the_count(client: TestClient) -> None:
    body = client.get("/api/tweets", params={"min_probability": 0.5, "limit": 2}).json()
    assert [t["id"] for t in body["tweets"]] == ["b5", "b3"]
    assert (body["count"], body["returned"]) == (4, 2)
    assert body["filters"] == {"min_probability": 0.5, "since": None, "until": None, "limit": 2}


def test_domain_counts_follow_the_filters(client: TestClient) -> None:
    # twitter.com (the tweet's own page) is listed under b2 but never charted.
    assert _domains(client, min_probability=0.5) == {"arxiv.org": 3, "github.com": 1, "openai.com": 1}
    assert _domains(client) == {"arxiv.org": 2, "github.com": 1, "openai.com": 1}
    assert _domains(client, min_probability=0.9) == {"arxiv.org": 1, "openai.com": 1}
    assert _domains(client, min_probability=0.5, since="2024-03-03") == {"arxiv.org": 1, "github.com": 1}
    assert _domains(client, min_probability=0) == {
        "arxiv.org": 3,
        "example.com": 1,
        "github.com": 1,
        "openai.com": 1,
    }
    body = client.get("/api/domains", params={"min_probability": 0.5, "top": 1}).json()
    assert body["domains"] == [{"domain": "arxiv.org", "tweets": 3, "links": 3}]
    assert body["tweets"] == 4  # the chart covers every filtered tweet, not just a page of them
    listed = client.get("/api/domains", params={"min_probability": 0.5}).json()["domains"]
    assert [d["domain"] for d in listed] == ["arxiv.org", "github.com", "openai.com"]  # ties by name


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/tweets", {"min_probability": "1.5"}, "between 0 and 1"),
        ("/api/tweets", {"min_probability": "-0.1"}, "between 0 and 1"),
        ("/api/tweets", {"min_probability": "nan"}, "between 0 and 1"),
        ("/api/domains", {"min_probability": "high"}, "must be a number"),
        ("/api/tweets", {"since": "2024-13-01"}, "YYYY-MM-DD"),
        ("/api/tweets", {"until": "03/01/2024"}, "YYYY-MM-DD"),
        ("/api/domains", {"since": "2024-03-01T00:00"}, "YYYY-MM-DD"),
        ("/api/tweets", {"since": "2024-03-05", "until": "2024-03-01"}, "after"),
        ("/api/tweets", {"limit": "0"}, "between 1 and 1000"),
        ("/api/tweets", {"limit": "1001"}, "between 1 and 1000"),
        ("/api/tweets", {"limit": "ten"}, "whole number"),
        ("/api/domains", {"top": "0"}, "between 1 and 100"),
        ("/api/domains", {"top": "101"}, "between 1 and 100"),
        ("/api/tweets", {"min_prob": "0.5"}, "unknown parameter"),
        ("/api/tweets", {"top": "5"}, "unknown parameter"),
    ],
)
def test_bad_input_is_422(client: TestClient, path: str, params: dict[str, str], message: str) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422
    assert message in response.json()["error"]


def test_missing_tables_give_the_empty_state(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path / "never" / "written"), base_url=BASE_URL)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="tweets"' in page.text and "/static/dashboard.js" in page.text
    for path in ("/api/tweets", "/api/domains"):
        response = client.get(path, params={"min_probability": 0.5})
        assert response.status_code == 200
        body = response.json()
        assert (body["ready"], body["message"]) == (False, EMPTY_MESSAGE)
        assert body.get("tweets") in ([], 0) and body.get("domains", []) == []
    assert client.get("/api/health").json() == {
        "status": "ok",
        "tables": {"scored_tweets": False, "links": False},
    }


def test_without_links_table_domains_come_from_the_urls(folder: Path, client: TestClient) -> None:
    (folder / "links.parquet").unlink()
    # Without the asset's normalisation export.arxiv.org stays its own site.
    assert _domains(client, min_probability=0.9) == {"export.arxiv.org": 1, "openai.com": 1}


def test_tables_are_read_once_per_change(folder: Path, client: TestClient, monkeypatch) -> None:
    reads: list[str] = []
    real_read = dashboard_tables._read

    def counting(path: Path, columns=None) -> pd.DataFrame:
        reads.append(path.name)
        return real_read(path, columns)

    monkeypatch.setattr(dashboard_tables, "_read", counting)
    for _ in range(3):
        assert _ids(client, min_probability=0.9) == ["b1"]
        _domains(client, min_probability=0.9)
    assert sorted(reads) == ["links.parquet", "scored_tweets.parquet"]

    _write_tables(folder, [*ROWS, ("b7", "2024-03-06T08:00:00", "newcomer", 0.97, 1, [])])
    assert _ids(client, min_probability=0.9) == ["b7", "b1"]  # a rewritten table is seen at once
    assert len(reads) == 4


def test_unreadable_table_is_503_and_recovers(folder: Path, client: TestClient) -> None:
    (folder / "scored_tweets.parquet").write_bytes(b"PAR1 half written")
    response = client.get("/api/tweets")
    assert response.status_code == 503
    assert "scored_tweets.parquet" in response.json()["error"]
    _write_tables(folder)
    assert _ids(client) == ["b3", "b2", "b1"]


def test_page_and_assets_carry_a_strict_csp(client: TestClient) -> None:
    for path in ("/", "/static/dashboard.js", "/static/dashboard.css", "/api/health"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/health").json()["tables"] == {"scored_tweets": True, "links": True}


def test_requests_for_other_hosts_are_refused(folder: Path, client: TestClient) -> None:
    """DNS rebinding: a page on another name pointed at 127.0.0.1 must not read the dashboard."""
    assert client.get("/api/tweets", headers={"Host": "localhost:8766"}).status_code == 200
    for path in ("/", "/api/tweets", "/static/dashboard.js"):
        refused = client.get(path, headers={"Host": "rebind.example:8766"})
        assert refused.status_code == 400, path
        assert "b1" not in refused.text and refused.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/health", headers={"Host": "localhost:8000"}).status_code == 400
    named = TestClient(create_app(folder, hosts=["dash.example.org"]), base_url="https://dash.example.org")
    assert named.get("/api/tweets").status_code == 200
    assert named.get("/api/tweets", headers={"Host": "rebind.example"}).status_code == 400

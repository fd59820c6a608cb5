"""The dashboard in headless Chromium against a real uvicorn server: rows, bars, a filter change, a
screenshot (the issue's acceptance test).

The table holds real tweets (Twitter v1.1 JSON from the shared tweets sample, parsed minimally here so
this test does not depend on the tweets assets) with made-up probabilities and dates spread over a few
days; one hostile row checks that tweet text and URLs are shown as text and never run or followed.
Chromium comes from the system (Debian: ``apt-get install chromium``) or ``FLYWHEEL_CHROMIUM``;
a missing browser fails with the install command, because a skipped acceptance test passes unseen.
The screenshot goes to ``<tmp_path>/dashboard.png`` and, when ``FLYWHEEL_SCREENSHOT_DIR`` is set, there too.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.request import urlopen

import pandas as pd
import pytest
import uvicorn
from browser import open_page, served
from playwright.sync_api import Page, expect

from apps.dashboard.server import create_app
from orchestration.infra.kafka_broker import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
RAW_TWEET_DIRS = (REPO_ROOT / "data" / "tweets", REPO_ROOT.parent / "shared" / "data" / "tweets" / "raw")
TWEETS_WITH_LINKS, TWEETS_WITHOUT = 60, 20
HOSTILE_TEXT = '<img src="x" onerror="window.__owned = 1"> <b>not bold</b>'


def _raw_tweets() -> list[dict]:
    """Twitter v1.1 JSON objects from the first folder that has some."""
    for folder in RAW_TWEET_DIRS:
        files = sorted(folder.glob("*.json"))
        if files:
            return [json.loads(f.read_text()) for f in files]
    pytest.fail(f"no raw tweets (*.json) found in any of {[str(d) for d in RAW_TWEET_DIRS]}", pytrace=False)


def _row(tweet: dict) -> dict:
    """The columns of ``scored_tweets.parquet`` from one tweet, the way the parser reads them."""
    extended = tweet.get("extended_tweet") or {}
    entities = extended.get("entities") or tweet.get("entities") or {}
    return {
        "id": tweet["id_str"],
        "created_at": datetime.strptime(tweet["created_at"], "%a %b %d %H:%M:%S %z %Y"),
        "text": html.unescape(extended.get("full_text") or tweet.get("text") or ""),  # v1.1 escapes &<>
        "user": (tweet.get("user") or {}).get("screen_name") or "",
        "urls": [u["expanded_url"] for u in entities.get("urls", []) if u.get("expanded_url")],
    }


def _scored_table() -> pd.DataFrame:
    rows = [_row(t) for t in _raw_tweets()]
    linked = [r for r in rows if any("twitter.com" not in u for u in r["urls"])][:TWEETS_WITH_LINKS]
    plain = [r for r in rows if not r["urls"]][:TWEETS_WITHOUT]
    chosen = linked + plain
    for i, row in enumerate(chosen):
        # Made up: probabilities spread over [0, 1) in a fixed shuffle; the sample is all one day, so
        # tweets are moved back 0-4 days to give the date filter something to do.
        row["probability_ai"] = round(((i * 37) % 100) / 100, 2)
        row["created_at"] = row["created_at"] - timedelta(days=i % 5)
    chosen.append(
        {
            "id": "hostile",
            "created_at": chosen[0]["created_at"] + timedelta(minutes=1),
            "text": HOSTILE_TEXT,
            "user": "mallory",
            "urls": ["javascript:window.__owned=2", "https://example.org/safe"],
            "probability_ai": 0.99,
        }
    )
    table = pd.DataFrame(chosen)
    table["created_at"] = pd.to_datetime(table["created_at"], utc=True)
    table["prediction"] = (table["probability_ai"] >= 0.5).astype(int)
    table["model_version"] = "3"
    return table


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The app over a fresh tables folder, on a free port, served by uvicorn in a thread."""
    folder = tmp_path / "tables" / "tweets"
    folder.mkdir(parents=True)
    _scored_table().to_parquet(folder / "scored_tweets.parquet", index=False)
    with served(create_app(folder)) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Page]:
    with open_page(viewport={"width": 1280, "height": 900}) as (page, errors):
        yield page
        assert errors == []  # a script error, a CSP violation or a failed load means a broken page


def _api(server: str, path: str) -> dict:
    with urlopen(f"{server}{path}", timeout=10) as response:
        return json.loads(response.read())


def test_dashboard_renders_filters_and_is_screenshotted(server: str, page: Page, tmp_path: Path) -> None:
    default = _api(server, "/api/tweets?min_probability=0.5")
    chart = _api(server, "/api/domains?min_probability=0.5")
    assert 10 < default["count"] < default["scored"] and chart["domains"]

    page.goto(f"{server}/")
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    rows = page.locator("#tweets tbody tr")
    bars = page.locator("#chart svg rect.bar")
    expect(rows).to_have_count(default["count"])
    expect(bars).to_have_count(len(chart["domains"]))
    assert page.locator("#tweets tbody tr").first.get_attribute("data-id") == default["tweets"][0]["id"]
    assert bars.first.get_attribute("data-domain") == chart["domains"][0]["domain"]

    # Hostile text is shown as text and its javascript: URL is not a link; real URLs are safe anchors.
    hostile = page.locator('tr[data-id="hostile"]')
    expect(hostile.locator("td.text")).to_have_text(HOSTILE_TEXT)
    assert hostile.locator("img, b").count() == 0
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.evaluate("window.__owned") is None
    anchors = page.locator("#tweets td.links a")
    assert anchors.count() > 10
    assert {anchors.nth(i).get_attribute("rel") for i in range(anchors.count())} == {"noopener noreferrer"}

    stricter = _api(server, "/api/tweets?min_probability=0.8")
    assert 0 < stricter["count"] < default["count"]
    page.fill("#min-prob", "0.8")
    expect(rows).to_have_count(stricter["count"])
    expect(page.locator("#min-prob-range")).to_have_value("0.8")
    expect(bars).to_have_count(len(_api(server, "/api/domains?min_probability=0.8")["domains"]))
    assert "min_probability=0.8" in page.url  # the view can be shared by its address

    first_day = stricter["range"]["first"]
    one_day = _api(server, f"/api/tweets?min_probability=0.8&since={first_day}&until={first_day}")
    page.fill("#since", first_day)
    page.fill("#until", first_day)
    expect(rows).to_have_count(one_day["count"])

    page.click("#reset")
    expect(rows).to_have_count(default["count"])
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.exists() and shot.stat().st_size > 10_000, "the screenshot is missing or blank"
    if os.environ.get("FLYWHEEL_SCREENSHOT_DIR"):
        target = Path(os.environ["FLYWHEEL_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target / "dashboard.png")


def test_empty_state_before_the_assets_ran(tmp_path: Path, page: Page) -> None:
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(tmp_path / "missing"), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not srv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("body")).to_have_attribute("data-state", "empty")
        expect(page.locator("#message")).to_have_text("no scored tweets yet: run flywheel materialize tweets")
        expect(page.locator("#tweets")).to_be_hidden()
    finally:
        srv.should_exit = True
        thread.join(timeout=10)

"""The customer-service app in headless Chromium against a real uvicorn server over a SQLite customers
database: the at-risk list with filters, search by name, a customer page with its activity plot and
risk drivers, hostile names shown as text, the token required, and a screenshot.

The screenshot goes to ``<tmp_path>/customers.png`` and, when ``FLYWHEEL_SCREENSHOT_DIR`` is set, there too.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pandas as pd
import pytest
from browser import open_page, served
from playwright.sync_api import expect

from apps.customers.server import create_app
from assets.sparkify.customers import write_customers

TOKEN = "s3cret-token"
HOSTILE = '<img src=x onerror="window.__owned=1">'


def _database(path: Path) -> str:
    url = f"sqlite:///{path}"
    states = ["CA", "TX", "NY"]
    rows = []
    for i in range(1, 31):
        first = HOSTILE if i == 7 else f"Name{i}"
        rows.append({
            "user_id": str(i), "first_name": first, "last_name": "Doe" if i % 2 else "Roe",
            "name": f"{first} {'Doe' if i % 2 else 'Roe'}", "level": "paid" if i % 3 else "free",
            "state": states[i % 3], "location": f"Town {i}, {states[i % 3]}", "os": "mac", "gender": "F",
            "registration": 1538000000000, "first_ts": 1538400000000, "last_ts": 1541000000000,
            "events": 100 + i, "sessions": 5, "songs": 80 + i, "thumbs_up": 3, "thumbs_down": i % 5,
            "adverts": i % 7, "errors": 0, "add_playlist": 2, "add_friend": 1, "cancelled": int(i == 30),
            "churn_probability": i / 31, "prediction": int(i / 31 >= 0.5), "model_version": "3",
            "risk_drivers": json.dumps([{"feature": "n_adverts", "value": i % 7, "push": 1.2}]),
            "updated_at": "2018-11-01T00:00:00+00:00",
        })  # fmt: skip
    table = pd.DataFrame(rows)
    table["name_lower"] = table["name"].str.lower()
    days = pd.date_range("2018-10-01", periods=20).strftime("%Y-%m-%d")
    activity = pd.DataFrame(
        [{"user_id": str(u), "day": d, "events": 5 + (u * k) % 17, "songs": 3 + (u * k) % 11}
         for u in range(1, 31) for k, d in enumerate(days)]
    )  # fmt: skip
    write_customers(url, table, activity)
    return url


def test_customers_app_in_chromium(tmp_path: Path) -> None:
    app = create_app(_database(tmp_path / "customers.db"), token=TOKEN)
    with served(app) as base, open_page(viewport={"width": 1280, "height": 1100}) as (page, errors):
        with pytest.raises(HTTPError) as refused:  # no token, no data
            urlopen(f"{base}/api/at-risk")
        assert refused.value.code == 401
        wrong_host = Request(
            f"{base}/api/health", headers={"Host": "evil.example", "Authorization": f"Bearer {TOKEN}"}
        )
        with pytest.raises(HTTPError) as rebinding:
            urlopen(wrong_host)
        assert rebinding.value.code == 400

        page.goto(f"{base}/#token={TOKEN}")
        rows = page.locator("#risk-body tr")
        expect(rows.first).to_be_visible()
        assert rows.count() == 14  # risk >= 0.5 and not cancelled: users 16..29
        assert rows.first.locator("td").first.inner_text() == "29"  # riskiest first
        page.select_option("#f-level", "free")
        page.select_option("#f-state", "CA")
        page.fill("#f-min", "0")
        page.click("#filters button")
        expect(rows).to_have_count(9)  # free users (i % 3 == 0) all live in CA: 3, 6, ..., 27 (30 cancelled)
        assert all(r.inner_text().split("\t")[2:4] == ["free", "CA"] for r in rows.all())

        page.fill("#q", "name1")  # case-insensitive, by name part: Name1, Name10..Name19
        page.click("#search-form button")
        expect(page.locator("#results-body tr")).to_have_count(11)
        page.fill("#q", "12")  # one match by id → the customer page opens
        page.click("#search-form button")
        expect(page.locator("#c-name")).to_contain_text("user 12")
        expect(page.locator("#c-risk")).to_have_text("38.7 %")
        expect(page.locator("#c-drivers li")).to_have_text(["n_adverts = 5"])
        assert page.locator("#c-plot svg rect.bar-events").count() == 20
        page.locator("#risk-body tr").first.click()

        page.fill("#q", "img")  # the hostile name is shown as text and never runs
        page.click("#search-form button")
        expect(page.locator("#c-name")).to_contain_text(HOSTILE)
        assert page.evaluate("window.__owned") is None
        assert errors == []
        shot = tmp_path / "customers.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("FLYWHEEL_SCREENSHOT_DIR"):
            target = Path(os.environ["FLYWHEEL_SCREENSHOT_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, target / "customers.png")

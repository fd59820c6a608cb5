"""The monitoring page in headless Chromium against a real uvicorn server, over monitoring files written
here in the formats the scoring and evaluation assets write: two model versions with six points per 100
labels over three days, eight drift batches (the last three drifted), a lag file and a label-efficiency
curve drawn with matplotlib. Plus the JSON and file routes without a browser: missing or broken files
are a 200 with ``ready: false``, never a 500; unknown use cases and paths out of ``drift/`` are 404.

Chromium comes from the system or ``FLYWHEEL_CHROMIUM`` (see ``browser.py``); the screenshot goes to
``<tmp_path>/monitor.png`` and, when ``FLYWHEEL_SCREENSHOT_DIR`` is set, there too.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from browser import open_page, served
from playwright.sync_api import Page, expect

from apps.monitor.server import create_app

USE_CASES = ("disaster", "tweets")
FEATURES = ("chars", "oov_share", "words", "hashtags")
DRIFTED = ["chars", "oov_share"]
BATCHES, DRIFTED_BATCHES = 8, 3
STRATEGIES = ("entropy", "margin", "random")
T0 = 1765125600.0  # 2025-12-07 16:40 UTC


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def _version(version: str, holdout: float, base: float, below: bool) -> dict:
    per_100 = [
        {
            "labels": 100 * (i + 1),
            "metric": round(base + 0.01 * i, 3),
            "ci_low": round(base + 0.01 * i - 0.08 + 0.01 * i, 3),
            "ci_high": round(base + 0.01 * i + 0.08 - 0.01 * i, 3),
        }
        for i in range(6)
    ]
    daily = [
        {
            "day": f"2026-12-0{5 + d}",
            "labels": 200,
            "metric": base + 0.02 * d,
            "ci_low": base - 0.05,
            "ci_high": base + 0.07,
        }
        for d in range(3)
    ]
    return {
        "version": version,
        "holdout_metric": holdout,
        "labels": 600,
        "metric": per_100[-1]["metric"],
        "ci_low": per_100[-1]["ci_low"],
        "ci_high": per_100[-1]["ci_high"],
        "below_holdout": below,
        "daily": daily,
        "per_100": per_100,
    }


def _batch(i: int, slot: str) -> dict:
    drifted = i >= BATCHES - DRIFTED_BATCHES
    features = []
    for name in FEATURES:
        hit = drifted and name in DRIFTED
        features.append(
            {
                "feature": name,
                "kind": "numeric",
                "psi": 0.61 if hit else 0.02 + 0.01 * i,
                "ks_statistic": 0.4 if hit else 0.05,
                "p_value": 1e-9 if hit else 0.6,
                "reference_mean": 120.3,
                "current_mean": 70.1 if hit else 119.0,
                "current_rows": 200,
                "drifted": hit,
            }
        )
    return {
        "partition": f"0:{200 * i}-{200 * (i + 1)}",
        "slot": slot,
        "scored_at": T0 + 600 * i,
        "model_version": "2" if i >= 4 else "1",
        "rows": 200,
        "drifted": drifted,
        "drifted_features": DRIFTED if drifted else [],
        "max_psi": max(f["psi"] for f in features),
        "features": features,
    }


def _slots() -> list[str]:
    """Slots in scored order whose names sort the other way, so ordering by name would be wrong."""
    return [f"s{BATCHES - i:02d}-0a{i}" for i in range(BATCHES)]


def write_fixtures(home: Path) -> Path:
    base = home / "monitoring" / "disaster"
    _write_json(
        base / "live_quality.json",
        {
            "use_case": "disaster",
            "metric": "weighted_f2",
            "updated_at": "2026-12-07T16:40:00+00:00",
            "audit_share": 0.1,
            "basis": "audit",
            "versions": [_version("1", 0.72, 0.62, False), _version("2", 0.80, 0.66, True)],
        },
    )
    for i, slot in enumerate(_slots()):
        _write_json(base / "drift" / f"{slot}.json", _batch(i, slot))
        (base / "drift" / f"{slot}.html").write_text(
            f"<!doctype html><title>{slot}</title><h1>Drift report {slot}</h1>"
            "<script>document.body.dataset.ran = '1'</script>"
        )
    _write_json(
        base / "lag.json",
        {
            "updated_at": "2026-12-07T16:41:00+00:00",
            "lag_records": 1234,
            "oldest_wait_seconds": 3.2,
            "latency_p95_s": 8.1,
        },
    )
    with (base / "label_efficiency.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["strategy", "labels", "metric_median", "metric_min", "metric_max"])
        for s, strategy in enumerate(STRATEGIES):
            for labels in (50, 100, 200, 400):
                m = 0.4 + 0.0008 * labels - 0.03 * s
                out.writerow([strategy, labels, round(m, 3), round(m - 0.04, 3), round(m + 0.04, 3)])

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.5), dpi=80)
    for s, strategy in enumerate(STRATEGIES):
        ax.plot(
            [50, 100, 200, 400],
            [0.44 - 0.03 * s, 0.48 - 0.03 * s, 0.56 - 0.03 * s, 0.72 - 0.03 * s],
            label=strategy,
        )
    ax.legend()
    fig.savefig(base / "label_efficiency.png")
    plt.close(fig)
    return base


@pytest.fixture
def page() -> Iterator[Page]:
    with open_page(viewport={"width": 1280, "height": 900}) as (page, errors):
        yield page
        assert errors == []  # a script error, a CSP violation or a failed load means a broken page


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _raw_status(base: str, path: str) -> int:
    """The status of ``path`` sent exactly as written (no client-side dot-segment clean-up)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_monitor_page_renders_and_is_screenshotted(tmp_path: Path, page: Page) -> None:
    home = tmp_path / "home"
    write_fixtures(home)
    slots = _slots()
    with served(create_app(home, USE_CASES)) as url:
        page.goto(f"{url}/uc/disaster")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")

        # One line (and band, and dashed holdout line) per version, six points each.
        lines = page.locator("#chart svg polyline.line")
        expect(lines).to_have_count(2)
        assert {lines.nth(i).get_attribute("data-version") for i in range(2)} == {"1", "2"}
        assert all(len(lines.nth(i).get_attribute("points").split()) == 6 for i in range(2))
        expect(page.locator("#chart svg polygon.band")).to_have_count(2)
        expect(page.locator("#chart svg line.holdout")).to_have_count(2)
        expect(page.locator("#metric-name")).to_have_text("weighted_f2")
        expect(page.locator(".version")).to_have_count(2)
        expect(page.locator('.version[data-version="2"] table.summary tr.below')).to_have_count(1)
        expect(page.locator('.version[data-version="1"] table.summary tr.below')).to_have_count(0)
        expect(page.locator('.version[data-version="1"] table.daily tbody tr')).to_have_count(3)

        # The newest batch's features, drifted ones highlighted; the strip in scored order.
        rows = page.locator("#drift-table tbody tr")
        expect(rows).to_have_count(len(FEATURES))
        marked = page.locator("#drift-table tbody tr.drifted")
        expect(marked).to_have_count(len(DRIFTED))
        assert sorted(marked.nth(i).get_attribute("data-feature") for i in range(len(DRIFTED))) == DRIFTED
        assert page.evaluate(
            "getComputedStyle(document.querySelector('#drift-table tr.drifted td')).backgroundColor"
        ) != page.evaluate(
            "getComputedStyle(document.querySelector('#drift-table tr:not(.drifted) td')).backgroundColor"
        )
        strip = page.locator("#drift-strip .batch")
        expect(strip).to_have_count(BATCHES)
        assert [strip.nth(i).get_attribute("data-slot") for i in range(BATCHES)] == slots
        drifted = [("drifted" in (strip.nth(i).get_attribute("class") or "")) for i in range(BATCHES)]
        assert drifted == [False] * (BATCHES - DRIFTED_BATCHES) + [True] * DRIFTED_BATCHES
        assert strip.nth(BATCHES - 1).get_attribute("href") == f"/files/disaster/drift/{slots[-1]}.html"
        expect(page.locator("#drift-latest")).to_contain_text("0:1400-1600")

        expect(page.locator("#lag-records")).to_have_text("1,234")
        expect(page.locator("#lag-p95")).to_have_text("8.1 s")

        page.wait_for_function(
            "() => { const i = document.getElementById('le-img'); return i && i.complete }"
        )
        assert page.evaluate("document.getElementById('le-img').naturalWidth") > 0
        expect(page.locator("#le-table tbody tr")).to_have_count(len(STRATEGIES))
        expect(page.locator("#le-table tbody tr").first).to_contain_text("400")

        shot = tmp_path / "monitor.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.exists() and shot.stat().st_size > 10_000, "the screenshot is missing or blank"
        if os.environ.get("FLYWHEEL_SCREENSHOT_DIR"):
            target = Path(os.environ["FLYWHEEL_SCREENSHOT_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, target / "monitor.png")

        # A report's inline script runs (sandboxed), and the index links to each use case.
        page.goto(f"{url}/files/disaster/drift/{slots[-1]}.html")
        expect(page.locator("h1")).to_have_text(f"Drift report {slots[-1]}")
        expect(page.locator("body")).to_have_attribute("data-ran", "1")
        page.goto(f"{url}/")
        expect(page.locator('#use-cases a[href="/uc/disaster"]')).to_have_text("disaster")
        expect(page.locator("#use-cases a")).to_have_count(len(USE_CASES))


def test_json_route_missing_and_broken_files_unknown_use_case_and_traversal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with served(create_app(home, USE_CASES)) as url:
        status, headers, raw = _get(f"{url}/api/monitoring/disaster")
        body = json.loads(raw)
        assert status == 200 and body["ready"] is False and "no monitoring data yet" in body["message"]
        assert body["quality"]["versions"] == [] and body["drift"]["batches"] == []
        assert body["drift"]["latest"] is None and body["lag"] is None
        assert body["label_efficiency"] == {"image": None, "columns": [], "rows": []}
        assert _get(f"{url}/files/disaster/label_efficiency.png")[0] == 404
        assert _get(f"{url}/health")[0] == 200

        # Half-written and odd files are named, the rest is still shown.
        base = home / "monitoring" / "disaster"
        base.mkdir(parents=True)
        (base / "live_quality.json").write_text('{"versions": [{"version": "1", ')
        (base / "lag.json").write_text("[1, 2]")
        (base / "drift").mkdir()
        (base / "drift" / "b1.json").write_text('{"scored_at": NaN, "max_psi": Infinity, "features": "x"}')
        (base / "drift" / "b2.json").write_text("")
        status, _, raw = _get(f"{url}/api/monitoring/disaster")
        body = json.loads(raw)
        assert status == 200 and body["ready"] is True
        assert body["drift"]["latest"]["slot"] == "b1" and body["drift"]["latest"]["max_psi"] is None
        assert body["lag"] is None and body["quality"]["versions"] == []
        assert {p.split(":")[0] for p in body["problems"]} == {
            "live_quality.json",
            "lag.json",
            "drift/b2.json",
        }

        # Unknown use cases are 404 on every route.
        assert _get(f"{url}/uc/nope")[0] == 404
        status, _, raw = _get(f"{url}/api/monitoring/nope")
        assert status == 404 and "unknown use case" in json.loads(raw)["error"]
        assert _get(f"{url}/files/nope/label_efficiency.png")[0] == 404

        # Nothing outside drift/ is served as a report, however the path is spelt.
        (home / "monitoring" / "secret.html").write_text("secret")
        (base / "secret.html").write_text("secret")
        (base / "drift" / "ok.html").write_text("<p>report</p>")
        (base / "drift" / "link.html").symlink_to(base / "secret.html")
        status, headers, raw = _get(f"{url}/files/disaster/drift/ok.html")
        assert status == 200 and raw == b"<p>report</p>" and "sandbox" in headers["content-security-policy"]
        for path in (
            "/files/disaster/drift/...html",
            "/files/disaster/drift/..secret.html",
            "/files/disaster/drift/%2e%2e.html",
            "/files/disaster/drift/..%2Fsecret.html",
            "/files/disaster/drift/..%2f..%2fsecret.html",
            "/files/disaster/drift/../secret.html",
            "/files/disaster/drift/../../secret.html",
            "/files/disaster/drift/link.html",
            "/files/disaster/drift/missing.html",
            "/files/tweets/drift/..%2F..%2Fdisaster%2Fsecret.html",
        ):
            assert _raw_status(url, path) == 404, path

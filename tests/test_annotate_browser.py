"""The annotation page in headless Chromium against a real uvicorn server: keys label, skip and undo.

Chromium comes from the system (Debian: ``apt-get install chromium chromium-driver``), or from
``FLYWHEEL_CHROMIUM``; Playwright only drives it, so no browser download is needed. A missing
browser fails this test with the install command: a skipped acceptance test would pass unseen.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser import open_page, served
from playwright.sync_api import Page, expect

from apps.annotate.labelsets import LabelSet
from apps.annotate.server import create_app
from orchestration.settings import Settings
from resources.annotation_store import AnnotationStore

TOKEN = "browser-test-token-42"
LABELS = ["relevant", "irrelevant", "unsure"]


@pytest.fixture
def store(flywheel_env: Settings) -> AnnotationStore:
    return AnnotationStore(flywheel_env.database_url)


@pytest.fixture
def server(store: AnnotationStore) -> Iterator[str]:
    """The app on a free port, served by uvicorn in a thread, until the test ends."""
    app = create_app(store, TOKEN, {"tweets": LabelSet("tweets", LABELS)})
    with served(app) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Page]:
    with open_page() as (page, errors):
        yield page
        # 401s the test provokes on purpose are logged by Chromium as failed loads; anything else
        # (a script error, a CSP violation) means the page is broken.
        assert [e for e in errors if "401" not in e] == []


def _press(page: Page, key: str) -> None:
    """Press a key on the sample shown now and wait until the page shows the next one."""
    shown = page.locator("#sample").get_attribute("data-sample-id")
    page.keyboard.press(key)
    expect(page.locator("#sample")).not_to_have_attribute("data-sample-id", shown or "")
    expect(page.locator("body")).not_to_have_attribute("data-state", "busy")


def test_label_three_samples_with_the_keyboard(server: str, store: AnnotationStore, page: Page) -> None:
    store.enqueue(
        "tweets",
        [
            {"sample_id": f"t{i}", "payload": {"text": f"tweet number {i} about AI"}, "score": i / 10}
            for i in range(5)
        ],
    )
    page.goto(f"{server}/tweets")
    page.fill("#token", TOKEN)
    page.fill("#annotator", "browser")
    page.click("#login-button")
    sample = page.locator("#sample")
    expect(sample).to_have_attribute("data-sample-id", "t4")  # most uncertain first
    expect(sample).to_contain_text("tweet number 4")

    for key in ("1", "2", "1"):
        _press(page, key)
    expect(page.locator("#stored-count")).to_have_text("3")
    expect(page.locator("#session-count")).to_have_text("3")
    stored = {row["sample_id"]: row for row in store.labels("tweets")}
    assert {sid: row["label"] for sid, row in stored.items()} == {
        "t4": "relevant",
        "t3": "irrelevant",
        "t2": "relevant",
    }
    assert {row["annotator"] for row in stored.values()} == {"browser"}

    _press(page, "s")  # skips t1
    _press(page, "u")  # undoes this session's last label (t2), which comes back to the top
    expect(sample).to_have_attribute("data-sample-id", "t2")
    assert store.counts("tweets") == {"queued": 2, "labelled": 2, "skipped": 1, "labels": 2}

    refused = page.evaluate(
        """async () => {
            const r = await fetch('/api/tweets/labels', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({sample_id: 't0', label: 'relevant', annotator: 'intruder'})});
            return r.status;
        }"""
    )
    assert refused == 401
    assert "t0" not in {row["sample_id"] for row in store.labels("tweets")}


@pytest.mark.parametrize("separator", ["#", "?"])
def test_token_in_the_address_is_moved_out_of_it(
    server: str, store: AnnotationStore, page: Page, separator: str
) -> None:
    store.enqueue("tweets", [{"sample_id": "only", "payload": {"text": "hello"}, "score": 0.5}])
    page.goto(f"{server}/tweets{separator}token={TOKEN}")
    expect(page.locator("#sample")).to_have_attribute("data-sample-id", "only")
    assert "token" not in page.url
    _press(page, "3")
    expect(page.locator("body")).to_have_attribute("data-state", "empty")
    assert [row["label"] for row in store.labels("tweets")] == ["unsure"]

"""Helpers for the browser tests: the Debian Chromium binary and an app served by uvicorn in a thread."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from playwright.sync_api import Page, sync_playwright

from orchestration.infra.kafka_broker import free_port

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium() -> str:
    """The Chromium binary; fails (never skips) with the install command when there is none."""
    path = os.environ.get("FLYWHEEL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail(
            "Chromium not found: install it with `apt-get install -y chromium` "
            "or point FLYWHEEL_CHROMIUM at a Chromium binary",
            pytrace=False,
        )
    return path


@contextmanager
def served(app) -> Iterator[str]:
    """``app`` on a free port, served by uvicorn in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def open_page(**page_options) -> Iterator[tuple[Page, list[str]]]:
    """A page in headless Chromium, and the script errors and console errors it logs (for the test
    to judge: some tests provoke errors on purpose)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(**page_options)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            yield page, errors
        finally:
            browser.close()

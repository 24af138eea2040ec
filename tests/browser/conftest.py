"""The browser for the dashboard tests: Debian's chromium driven by Playwright, one per test module.

Where chromium or Playwright is missing the tests skip with the command that installs it; with
WARDEN_REQUIRE_BROWSER=1 (set by .ci/run) they fail instead, so CI never passes by skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

INSTALL = "apt-get install -y chromium (Debian/Ubuntu), then `make test` again"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    """The system browser: WARDEN_CHROMIUM if set, else the first chromium on PATH."""
    if given := os.environ.get("WARDEN_CHROMIUM"):
        return given if Path(given).is_file() else None
    for name in CANDIDATES:
        if found := shutil.which(name):
            return found
    return None


def _missing(why: str) -> None:
    if os.environ.get("WARDEN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{why} and WARDEN_REQUIRE_BROWSER=1: {INSTALL}", pytrace=False)
    pytest.skip(f"{why}: {INSTALL}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -r requirements.lock)")
    path = chromium_path()
    if path is None:
        _missing("no chromium found on PATH (or WARDEN_CHROMIUM)")
    with sync_playwright() as pw:
        # The system browser, not a downloaded one: `playwright install` is never needed.
        b = pw.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield b
        b.close()

"""Fixtures for the tests that drive chromium, loaded for the whole suite by conftest.py.

One chromium per module: Playwright's sync API runs an event loop on the main thread
while it is open, which the suite's async tests (in other modules) must not meet. Every
test gets fresh pages (`new_page`) and closes them. Playwright is imported late, so the
suite loads without it; `require_chromium` skips (fails in CI) when it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, Pages, require_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Expect


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def expect(browser: Browser) -> Expect:
    """Playwright's `expect` (imported late: the module loads without Playwright)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Pages]:
    pages = Pages(browser)
    yield pages
    pages.close()

"""A "browser" for ``BROWSER``: headless Chromium opens the URL and presses Approve, as a user of
``nb-oauth demo`` with a Chromium-based browser does. Exits 0 once the catcher's page says
"Signed in", 1 otherwise. Usage: ``BROWSER="python tests/chromium_browser.py %s"``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.chromium import launch, press  # noqa: E402


def main(url: str) -> int:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            press(page, url)
            return 0 if page.title() == "Signed in" else 1
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""Headless Chromium for the pages a user clicks through (consent, the catcher's page, JupyterLab).

An HTTP stand-in ignores what browsers enforce: the demo's consent page once sent a CSP whose
``form-action`` blocked its own redirect to the loopback catcher, and every httpx-driven test
passed. These helpers drive Debian's ``chromium`` through Playwright (``executable_path``; never
``playwright install``, which downloads a browser build).

``QueuedBrowser`` is the ``open_url`` of a sign-in: the kernel side "opens a tab" by handing the
URL to the test's main thread, which owns the Playwright objects (they are not thread-safe).
"""

from __future__ import annotations

import queue
import shutil
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

#: As the machine's own Chromium probe runs it: root needs --no-sandbox; the closed network makes
#: background services fail loudly, so they are off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

MISSING = (
    "the browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium); "
    ".ci/run installs it"
)


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )


class QueuedBrowser:
    """``open_url`` that hands each URL to the test thread, which opens it in Chromium."""

    def __init__(self) -> None:
        self.urls: queue.Queue[str] = queue.Queue()

    def __call__(self, url: str) -> bool:
        self.urls.put(url)
        return True

    def next_url(self, timeout: float = 15) -> str:
        return self.urls.get(timeout=timeout)


def press(page: Any, url: str, button: str = "#approve") -> Any:
    """Open the authorization ``url`` in ``page`` and press a consent button, as a user does;
    returns the response of the navigation the click caused (the catcher's page)."""
    page.goto(url)
    with page.expect_navigation(wait_until="load") as navigation:
        page.click(button)
    return navigation.value

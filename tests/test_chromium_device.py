"""The device grant's verification page in a real browser: headless Chromium enters the code
and approves while the kernel side polls the demo provider (SPEC section 11, RFC 8628 §3.3).

The kernel's wait between polls is a fake one that moves the shared clock; the first wait lasts
until the browser has acted, so nothing here sleeps for a poll interval."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from nb_oauth.consent.flow import ConnectResult, SignInLink, connect
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import AuthorizationDenied
from nb_oauth.session import Session
from tests.chromium import QueuedBrowser
from tests.conftest import FakeClock
from tests.test_device_grant import View, device_session


class BrowserPaced:
    """The kernel's wait between polls: moves the clock, and the first time waits until the
    test says the browser is done."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.browser_done = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.clock.advance(seconds)
        assert self.browser_done.wait(30), "the browser did not act within 30 s"


@pytest.fixture
def kernel() -> Iterator[Callable[[Callable[[], Any]], Future[Any]]]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit


def start(
    provider: DemoProvider, clock: FakeClock, kernel: Any
) -> tuple[Session, View, QueuedBrowser, BrowserPaced, Future[ConnectResult]]:
    session = device_session(provider, clock)
    view, tab, pace = View(), QueuedBrowser(), BrowserPaced(clock)
    future = kernel(lambda: connect(session, "tv", view=view, open_url=tab, sleep=pace))
    return session, view, tab, pace, future


def test_approve_with_the_code_filled_in(
    make_provider: Any, clock: FakeClock, page: Any, kernel: Any
) -> None:
    provider = make_provider()
    session, view, tab, pace, future = start(provider, clock, kernel)
    page.goto(tab.next_url())
    assert view.ready.wait(10)
    shown: SignInLink = view.shown[0]
    assert shown.user_code in page.inner_text("body")
    with page.expect_navigation(wait_until="load"):
        page.click("#approve")
    assert page.title() == "Device approved"
    assert "Go back to your notebook" in page.inner_text("body")
    pace.browser_done.set()

    assert future.result(timeout=30).has_refresh_token
    assert session.store.load_tokens("tv") is not None


def test_type_the_code_on_another_device(
    make_provider: Any, clock: FakeClock, page: Any, kernel: Any
) -> None:
    # What a user on a phone does: the short address, then the code as the notebook shows it.
    provider = make_provider()
    session, view, tab, pace, future = start(provider, clock, kernel)
    tab.next_url()
    assert view.ready.wait(10)
    shown: SignInLink = view.shown[0]
    assert shown.verification_uri is not None and shown.user_code is not None
    page.goto(shown.verification_uri)
    page.fill("#user_code", shown.user_code.lower())
    with page.expect_navigation(wait_until="load"):
        page.click("#next")
    with page.expect_navigation(wait_until="load"):
        page.click("#approve")
    assert page.title() == "Device approved"
    pace.browser_done.set()
    assert future.result(timeout=30).datasource == "tv"


def test_deny_in_chromium_is_the_denied_error(
    make_provider: Any, clock: FakeClock, page: Any, kernel: Any
) -> None:
    provider = make_provider()
    session, view, tab, pace, future = start(provider, clock, kernel)
    page.goto(tab.next_url())
    with page.expect_navigation(wait_until="load"):
        page.click("#deny")
    assert page.title() == "Device denied"
    pace.browser_done.set()
    with pytest.raises(AuthorizationDenied):
        future.result(timeout=30)
    assert view.events[-1] == "ended"
    assert session.store.load_tokens("tv") is None

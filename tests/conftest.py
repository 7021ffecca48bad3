"""Shared fixtures: the demo provider on loopback, an injectable clock, an in-memory keyring and a
testing IPython shell.

No fixture sleeps for a token to expire: the provider and the code under test read the same
:class:`FakeClock`, and a test moves it forward.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import keyring
import keyring.backend
import keyring.core
import keyring.errors
import pytest

from nb_oauth.demo import DemoProvider

# A fixed, realistic epoch second (2027-01-15) so tests never depend on the wall clock.
EPOCH = 1_800_000_000.0


class FakeClock:
    """A clock that moves only when a test says so: ``clock()`` reads, ``advance(s)`` moves it."""

    def __init__(self, start: float = EPOCH) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.now += seconds


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps passwords in a dict: for single-process tests."""

    # Below every real backend, so keyring's own detection never picks it outside a fixture.
    priority = -100  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("no such password") from None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def demo_clock() -> FakeClock:
    """The clock of the session-wide :func:`demo_provider`."""
    return FakeClock()


@pytest.fixture(scope="session")
def demo_provider(demo_clock: FakeClock) -> Iterator[DemoProvider]:
    """The demo provider with default settings, started once for the whole test session.

    Tests that advance ``demo_clock`` only make tokens expire sooner, so sharing is safe; tests that
    need other settings (lifetime, rotation, auto-approve) use :func:`make_provider`.
    """
    with DemoProvider(now=demo_clock) as provider:
        yield provider


@pytest.fixture
def make_provider(clock: FakeClock) -> Iterator[Callable[..., DemoProvider]]:
    """Start a demo provider with per-test settings (default clock: the test's ``clock``)."""
    started: list[DemoProvider] = []

    def make(**settings: Any) -> DemoProvider:
        settings.setdefault("now", clock)
        provider = DemoProvider(**settings).start()
        started.append(provider)
        return provider

    yield make
    for provider in started:
        provider.stop()


@pytest.fixture
def memory_keyring(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[MemoryKeyring]:
    """Install an in-memory keyring for one test and restore the previous backend afterwards.

    ``PYTHON_KEYRING_BACKEND`` is cleared and keyring's config path points into ``tmp_path``, so the
    user's own keyring configuration can never leak into a test.
    """
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setattr(keyring.core, "_config_path", lambda: tmp_path / "keyringrc.cfg")
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def ip() -> Iterator[Any]:
    """A fresh IPython shell whose ``run_cell`` re-raises errors (jupysql's TestingShell idea)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class TestingShell(InteractiveShell):  # type: ignore[misc]
        def run_cell(self, *args: Any, **kwargs: Any) -> Any:
            result = super().run_cell(*args, **kwargs)
            result.raise_error()
            return result

    config = Config()
    # No SQLite history: nothing a test types is written to disk, and no handles pile up.
    config.HistoryManager.enabled = False
    # The singleton instance, because IPython's display() publishes through it.
    InteractiveShell.clear_instance()
    shell = TestingShell.instance(config=config)
    try:
        yield shell
    finally:
        shell.cleanup()
        TestingShell.clear_instance()


class BrowserRobot:
    """Plays the user's browser for ``open_url``: opens the authorization URL, presses Approve (or
    Deny) on the demo provider's consent page, and follows the redirect to the loopback catcher.

    It runs in a thread, as a real browser would, and makes real HTTP requests. With
    ``deliver=False`` it stops before the catcher and keeps the redirect URL in ``redirected_to``
    (what a user on a remote kernel would copy from the address bar). ``tamper`` turns the
    redirect URL into the requests actually sent to the catcher, as ``(url, headers)`` pairs: an
    attacker's page, a stale tab or a browser's prefetch.
    """

    def __init__(
        self,
        decision: str = "approve",
        *,
        deliver: bool = True,
        tamper: Callable[[str], list[tuple[str, dict[str, str]]]] | None = None,
    ) -> None:
        self.decision = decision
        self.deliver = deliver
        self.tamper = tamper or (lambda url: [(url, {})])
        self.opened: list[str] = []
        self.redirected_to: str | None = None
        self.callback_status: int | None = None
        self.callback_statuses: list[int] = []
        self._threads: list[threading.Thread] = []
        self._redirected = threading.Event()

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        thread = threading.Thread(target=self._visit, args=(url,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return True

    def _visit(self, url: str) -> None:
        with httpx.Client(follow_redirects=False, timeout=10) as browser:
            page = browser.get(url)
            if page.status_code == 200:  # the consent page: press a button
                page = browser.post(url, data={"decision": self.decision})
            self.redirected_to = page.headers.get("location")
            self._redirected.set()
            if self.deliver and self.redirected_to:
                for target, headers in self.tamper(self.redirected_to):
                    try:
                        status = browser.get(target, headers=headers).status_code
                    except httpx.TransportError:
                        status = 0  # the catcher already closed: the flow ended
                    self.callback_statuses.append(status)
                self.callback_status = self.callback_statuses[-1]

    def wait_for_redirect(self, timeout: float = 10) -> str:
        assert self._redirected.wait(timeout), "the provider never redirected"
        assert self.redirected_to is not None
        return self.redirected_to

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)


@pytest.fixture
def browser() -> BrowserRobot:
    return BrowserRobot()

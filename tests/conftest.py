"""Shared fixtures: the demo provider on loopback, an injectable clock, an in-memory keyring and a
testing IPython shell.

No fixture sleeps for a token to expire: the provider and the code under test read the same
:class:`FakeClock`, and a test moves it forward.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import keyring
import keyring.backend
import keyring.core
import keyring.errors
import pytest

from nb_oauth.demo import DemoProvider
from tests.fileclock import EPOCH, FileClock

__all__ = ["EPOCH", "FakeClock", "FileClock"]

# The tests play the person at the keyboard (a robot browser, Chromium). Without this, a CI
# machine (CI=true, no terminal) or a kernel run by nbclient would be recognised as unattended
# and every sign-in would be refused; tests/test_unattended.py takes it away where it tests that.
os.environ["NB_OAUTH_NONINTERACTIVE"] = "0"

# Ctrl-C and "interrupt the kernel" are tested (a KeyboardInterrupt in this process, SIGINT to a
# child). A shell that starts the suite in the background ignores SIGINT, and Python then neither
# raises it nor restores it for the processes it starts: the user at a keyboard has it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


def testing_shell(history_file: Any = None) -> Any:
    """A fresh IPython shell (the singleton instance, because IPython's ``display()`` publishes
    through it) whose ``run_cell`` re-raises errors (jupysql's TestingShell idea).

    History is off unless ``history_file`` is given: then inputs go to that SQLite file, as in a
    real kernel, so a test can search it for secrets.
    """
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class TestingShell(InteractiveShell):  # type: ignore[misc]
        def run_cell(self, *args: Any, **kwargs: Any) -> Any:
            result = super().run_cell(*args, **kwargs)
            result.raise_error()
            return result

    config = Config()
    if history_file is None:
        # No SQLite history: nothing a test types is written to disk, and no handles pile up.
        config.HistoryManager.enabled = False
    else:
        config.HistoryManager.hist_file = str(history_file)
    InteractiveShell.clear_instance()
    return TestingShell.instance(config=config)


@pytest.fixture
def ip() -> Iterator[Any]:
    shell = testing_shell()
    try:
        yield shell
    finally:
        shell.cleanup()
        type(shell).clear_instance()


class QuietView:
    """A ConsentView that shows nothing, for tests that only care about the outcome."""

    def waiting(self, sign_in: Any) -> None:
        pass

    def finished(self, message: str) -> None:
        pass

    def ended(self) -> None:
        pass


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


@pytest.fixture
def nb_oauth_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``NB_OAUTH_HOME`` in ``tmp_path``, and none of nb_oauth's storage switches set."""
    home = tmp_path / "nb_oauth_home"
    monkeypatch.setenv("NB_OAUTH_HOME", str(home))
    monkeypatch.delenv("NB_OAUTH_SESSION_ONLY", raising=False)
    monkeypatch.delenv("NB_OAUTH_ALLOW_PLAINTEXT", raising=False)
    monkeypatch.delenv("NB_OAUTH_STORE", raising=False)
    return home


class FileKeyring:
    """keyrings.alt's ``PlaintextKeyring``, selected through keyring's own configuration (a
    ``keyringrc.cfg`` under a temporary ``XDG_CONFIG_HOME``), its data file in ``tmp_path``.

    ``env`` is the environment for subprocesses; ``backend()`` an in-process instance that reads
    and writes the same file.
    """

    def __init__(self, root: Path, home: Path) -> None:
        self.config_home = root / "xdg_config"
        self.data_home = root / "xdg_data"
        self.data_file = self.data_home / "python_keyring" / "keyring_pass.cfg"
        rc = self.config_home / "python_keyring" / "keyringrc.cfg"
        rc.parent.mkdir(parents=True)
        rc.write_text("[backend]\ndefault-keyring=keyrings.alt.file.PlaintextKeyring\n")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("NB_OAUTH_", "PYTHON_K"))},
            "XDG_CONFIG_HOME": str(self.config_home),
            "XDG_DATA_HOME": str(self.data_home),
            "NB_OAUTH_HOME": str(home),
            # The plaintext file backend is for tests only, hence the explicit opt-in (SEC-37).
            "NB_OAUTH_ALLOW_PLAINTEXT": "1",
        }

    def backend(self) -> keyring.backend.KeyringBackend:
        from keyrings.alt.file import PlaintextKeyring

        backend = PlaintextKeyring()
        backend.file_path = str(self.data_file)
        return backend


@pytest.fixture
def file_keyring(tmp_path: Path, nb_oauth_home: Path) -> FileKeyring:
    return FileKeyring(tmp_path, nb_oauth_home)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium (Debian's package) through Playwright, once per test module.

    Not once per session: while Playwright's sync API is open, its event loop counts as running
    in the main thread, and the async tests of other modules could not start their own."""
    from playwright.sync_api import sync_playwright

    from tests.chromium import CHROMIUM, MISSING, launch

    assert os.path.exists(CHROMIUM), MISSING
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A page in a fresh browser context (no cookies or cache from another test)."""
    context = chromium.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()

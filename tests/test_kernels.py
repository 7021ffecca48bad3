"""Kernels that share a datasource, and kernel restarts: real processes, a real file keyring.

Each "kernel" is a `sys.executable -c` subprocess with a `KeyringStore` that finds everything
through the environment alone: `NB_OAUTH_HOME` for the config file and lock files, and keyring's
own configuration (a `keyringrc.cfg` under `XDG_CONFIG_HOME` selecting keyrings.alt's file
backend, its data file under `XDG_DATA_HOME`). The demo provider runs in the test process with
refresh-token rotation and reuse detection (RFC 9700 §4.14.2). Time is a `FileClock` that the
provider and the kernels read and only the test moves: no test sleeps for a token to expire.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import nb_oauth
from nb_oauth.consent.flow import connect
from nb_oauth.demo import DemoProvider
from nb_oauth.session import Session
from nb_oauth.store.keyring_store import KeyringStore
from tests.conftest import BrowserRobot, FileKeyring, QuietView
from tests.fileclock import FileClock

ROOT = Path(__file__).resolve().parent.parent
LIFETIME = 600
WAIT_S = 30.0

KERNEL = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from nb_oauth.session import Session
    from nb_oauth.store.keyring_store import KeyringStore
    from tests.fileclock import FileClock

    session = Session(KeyringStore(), now=FileClock(Path(sys.argv[1])))
    with session.client("shared") as api:
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() == "quit":
                break
            for _ in range(int(line)):
                api.get("/api/me").raise_for_status()
            print("done", flush=True)
    """
)


class Kernel:
    """One subprocess; `send` a line, `expect` the next line of its output (bounded wait)."""

    def __init__(self, program: str, clock: FileClock, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", program, str(clock.path)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put("<exit>")

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, word: str) -> None:
        try:
            line = self._lines.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no {word!r} within {WAIT_S} s") from None
        assert line == word, f"expected {word!r}, got {line!r}: {self.stop()}"

    def stop(self) -> str:
        """End the process (politely, then for sure) and return its stderr."""
        if self.process.poll() is None and self.process.stdin and not self.process.stdin.closed:
            try:
                self.send("quit")
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=WAIT_S)
        assert self.process.stderr is not None and self.process.stdout is not None
        errors = self.process.stderr.read()
        self.process.stderr.close()
        self.process.stdout.close()
        return errors


def run(program: str, clock: FileClock, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program, str(clock.path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def shared_clock(tmp_path: Path) -> FileClock:
    return FileClock(tmp_path / "clock")


@pytest.fixture
def provider(make_provider: Any, shared_clock: FileClock) -> DemoProvider:
    provider: DemoProvider = make_provider(
        now=shared_clock, token_lifetime=LIFETIME, rotate_refresh_tokens=True
    )
    return provider


def datasource(provider: DemoProvider, name: str) -> nb_oauth.Datasource:
    return nb_oauth.Datasource(
        name=name,
        token_url=provider.token_url,
        authorization_url=provider.authorization_url,
        client_id="demo-basic",
        scopes="profile items:read",
        base_url=provider.api_url,
    )


def test_four_kernels_refresh_once_per_expiry_and_never_reuse_a_refresh_token(
    provider: DemoProvider, shared_clock: FileClock, file_keyring: FileKeyring
) -> None:
    # Configure and consent once, in this process, through the same file keyring.
    with pytest.warns(nb_oauth.SecurityWarning, match="plain-text"):
        store = KeyringStore(backend=file_keyring.backend(), allow_plaintext=True)
        session = Session(store, now=shared_clock)
        nb_oauth.save(
            datasource(provider, "shared"),
            client_secret=provider.clients["demo-basic"].client_secret,
            session=session,
        )
    browser = BrowserRobot()
    connect(session, "shared", view=QuietView(), open_url=browser, timeout=30)
    browser.join()

    kernels = [Kernel(KERNEL, shared_clock, file_keyring.env) for _ in range(4)]
    try:
        for kernel in kernels:
            kernel.expect("ready")
        for expiry in range(4):
            if expiry:
                shared_clock.advance(LIFETIME)  # every kernel's token is now expired
            for kernel in kernels:
                kernel.send("5")
            for kernel in kernels:
                kernel.expect("done")
            counters = provider.counters
            # Exactly one refresh per expiry (SEC-27), never a spent token again (SEC-28).
            assert counters.get("token:refresh_token", 0) == expiry
            assert counters.get("refresh_token_reuse", 0) == 0
            assert counters.get("api_401", 0) == 0
    finally:
        errors = [kernel.stop() for kernel in kernels]
    assert [kernel.process.returncode for kernel in kernels] == [0, 0, 0, 0], errors
    assert provider.counters.get("api_requests", 0) == 4 * 4 * 5
    assert provider.counters.get("authorizations", 0) == 1


SIGN_IN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import nb_oauth
    from nb_oauth.consent.console import ConsoleView
    from nb_oauth.consent.flow import connect
    from nb_oauth.session import Session
    from nb_oauth.store.keyring_store import KeyringStore
    from tests.conftest import BrowserRobot
    from tests.fileclock import FileClock

    session = Session(KeyringStore(), now=FileClock(Path(sys.argv[1])))
    ds = nb_oauth.Datasource(name="crm", token_url=sys.argv[2], authorization_url=sys.argv[3],
                             client_id="demo-post", client_auth="body", scopes="profile",
                             base_url=sys.argv[4])
    nb_oauth.save(ds, client_secret="demo-post-secret", session=session)
    connect(session, "crm", view=ConsoleView(), open_url=BrowserRobot(), timeout=30)
    with session.client("crm") as api:
        print("A", api.get("/api/me").json()["client_id"])
    """
)

RESTARTED = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from nb_oauth.session import Session
    from nb_oauth.store.keyring_store import KeyringStore
    from tests.fileclock import FileClock

    session = Session(KeyringStore(), now=FileClock(Path(sys.argv[1])))
    with session.client("crm") as api:
        print("B", api.get("/api/me").json()["client_id"])
    """
)


def test_a_restarted_kernel_calls_the_api_without_a_new_consent(
    provider: DemoProvider, shared_clock: FileClock, file_keyring: FileKeyring
) -> None:
    urls = [provider.token_url, provider.authorization_url, provider.api_url]
    first = subprocess.run(
        [sys.executable, "-c", SIGN_IN, str(shared_clock.path), *urls],
        cwd=ROOT, env=file_keyring.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "A demo-post" in first.stdout
    assert provider.counters.get("authorizations", 0) == 1

    shared_clock.advance(LIFETIME)  # the stored access token has expired meanwhile
    second = run(RESTARTED, shared_clock, file_keyring.env)
    assert second.returncode == 0, second.stderr
    assert "B demo-post" in second.stdout
    counters = provider.counters
    assert counters.get("authorizations", 0) == 1  # no new authorization request
    assert counters.get("token:authorization_code", 0) == 1
    assert counters.get("token:refresh_token", 0) == 1  # the stored refresh token did it
    assert counters.get("refresh_token_reuse", 0) == 0
    # The secrets are in the keyring file, the settings in the config file, and not crossed.
    config = (Path(file_keyring.env["NB_OAUTH_HOME"]) / "datasources.json").read_text()
    assert "demo-post-secret" not in config
    backend = file_keyring.backend()
    assert backend.get_password("nb_oauth:crm", "client_secret") == "demo-post-secret"
    assert backend.get_password("nb_oauth:crm", "token_set") is not None

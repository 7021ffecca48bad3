"""Storage faults during renewal, against the demo provider with rotation and reuse detection:
a failed keyring write (SEC-28), an interrupt at each checkpoint (SEC-49), and a refresh token
another kernel replaced (SEC-27)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import keyring.errors
import pytest

import nb_oauth
from nb_oauth.consent.flow import connect, disconnect
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import ReauthRequired, StorageWarning
from nb_oauth.session import Session
from nb_oauth.store import MemoryStore
from nb_oauth.store.keyring_store import KeyringStore
from nb_oauth.store.lock import FileRenewalLock, lock_path
from nb_oauth.tokens import TokenSet
from tests.conftest import BrowserRobot, FakeClock, MemoryKeyring, QuietView

LIFETIME = 600


class FaultyKeyring(MemoryKeyring):
    """Fault injection on writes of the token set: `fault` is None, "error" (the write fails),
    "before" (KeyboardInterrupt before writing) or "after" (KeyboardInterrupt after writing)."""

    fault: str | None = None

    def set_password(self, service: str, username: str, password: str) -> None:
        fault = self.fault if username == "token_set" else None
        if fault == "error":
            raise keyring.errors.PasswordSetError("cannot write")
        if fault == "before":
            raise KeyboardInterrupt
        super().set_password(service, username, password)
        if fault == "after":
            raise KeyboardInterrupt

    def stored(self, name: str = "demo") -> TokenSet | None:
        value = self.entries.get((f"nb_oauth:{name}", "token_set"))
        return None if value is None else TokenSet.from_secret_json(value)


def connected(provider: DemoProvider, session: Session) -> None:
    ds = nb_oauth.Datasource(
        name="demo",
        token_url=provider.token_url,
        authorization_url=provider.authorization_url,
        revocation_url=provider.revocation_url,
        client_id="demo-public",
        client_auth="none",
        base_url=provider.api_url,
    )
    nb_oauth.save(ds, session=session)
    browser = BrowserRobot()
    connect(session, "demo", view=QuietView(), open_url=browser, timeout=30)
    browser.join()


@pytest.fixture
def provider(make_provider: Any) -> DemoProvider:
    provider: DemoProvider = make_provider(token_lifetime=LIFETIME, rotate_refresh_tokens=True)
    return provider


def test_a_failed_write_of_a_rotated_token_keeps_it_in_memory_and_never_resends_the_old(
    provider: DemoProvider, clock: FakeClock, nb_oauth_home: Path
) -> None:
    backend = FaultyKeyring()
    session = Session(KeyringStore(backend=backend), now=clock)
    connected(provider, session)
    first = backend.stored()
    with session.client("demo") as api:
        backend.fault = "error"
        clock.advance(LIFETIME)
        with pytest.warns(StorageWarning, match="next kernel|another kernel"):
            assert api.get("/api/me").status_code == 200
        assert backend.stored() == first  # the old state, intact (SEC-40)
        backend.fault = None
        clock.advance(LIFETIME)
        assert api.get("/api/me").status_code == 200  # refreshed with the in-memory RT2
    counters = provider.counters
    assert counters.get("token:refresh_token", 0) == 2
    assert counters.get("refresh_token_reuse", 0) == 0  # RT1 was never sent again (SEC-28)
    latest = backend.stored()
    assert latest is not None and latest.refresh_token != first.refresh_token  # type: ignore[union-attr]


@pytest.mark.parametrize("checkpoint", ["after_response", "before_write", "after_write"])
def test_an_interrupt_during_refresh_leaves_a_usable_state_and_no_held_lock(
    provider: DemoProvider, clock: FakeClock, nb_oauth_home: Path, checkpoint: str
) -> None:
    backend = FaultyKeyring()
    session = Session(KeyringStore(backend=backend), now=clock)
    connected(provider, session)
    old = backend.stored()
    assert old is not None

    def interrupt_token_response(response: httpx.Response) -> None:
        if checkpoint == "after_response" and response.request.url.path == "/token":
            raise KeyboardInterrupt

    clock.advance(LIFETIME)
    backend.fault = {"before_write": "before", "after_write": "after"}.get(checkpoint)
    with session.client("demo", event_hooks={"response": [interrupt_token_response]}) as api:
        with pytest.raises(KeyboardInterrupt):
            api.get("/api/me")
    backend.fault = None

    # SEC-49: the old or the new refresh token is stored, never none.
    stored = backend.stored()
    assert stored is not None and stored.refresh_token
    lock = FileRenewalLock(lock_path(nb_oauth_home, "demo"))
    assert lock.acquire(0), "the renewal lock was left held"
    lock.release()

    # A new kernel (fresh session and store) and the interrupted one both carry on in time.
    for later in (Session(KeyringStore(backend=backend), now=clock), session):
        started = time.monotonic()
        with later.client("demo") as api:
            if checkpoint == "after_write":
                assert stored.refresh_token != old.refresh_token  # the new one was stored
                assert api.get("/api/me").status_code == 200
            else:
                # The spent RT1 is all that is stored; the provider saw its reuse: reconnect.
                # (The first kernel to learn it deletes the dead tokens; the next finds none.)
                assert stored.refresh_token == old.refresh_token
                with pytest.raises((ReauthRequired), match="connect"):
                    api.get("/api/me")
        assert time.monotonic() - started < 2


class RotatedElsewhere(MemoryStore):
    """The first fresh read returns `stale`, as if another kernel replaced the tokens right after
    this kernel read them (for instance by connecting again)."""

    stale: TokenSet | None = None

    def load_tokens(self, name: str, *, fresh: bool = False) -> TokenSet | None:
        if fresh and self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return super().load_tokens(name, fresh=fresh)


def test_after_invalid_grant_a_different_stored_refresh_token_is_used_instead_of_failing(
    provider: DemoProvider, clock: FakeClock
) -> None:
    store = RotatedElsewhere()
    session = Session(store, now=clock)
    connected(provider, session)
    revoked = store.load_tokens("demo")
    disconnect(session, "demo")  # revokes RT1 at the provider
    connected(provider, session)
    replacement = store.load_tokens("demo")
    store.stale = revoked
    clock.advance(LIFETIME)
    with session.client("demo") as api:
        assert api.get("/api/me").status_code == 200
    counters = provider.counters
    assert counters.get("token:refresh_token", 0) == 2  # RT1: invalid_grant; RT2: success
    assert counters.get("refresh_token_reuse", 0) == 0
    newest = store.load_tokens("demo")
    assert newest is not None and replacement is not None
    assert newest.refresh_token not in (revoked.refresh_token, replacement.refresh_token)  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_two_kernels_in_one_process_refresh_once_through_the_file_lock(
    provider: DemoProvider, clock: FakeClock, nb_oauth_home: Path
) -> None:
    # Two sessions with their own stores and caches stand for two kernels: only the file lock
    # and the fresh keyring read keep them from refreshing twice. One uses the async driver,
    # which polls the file lock without blocking the event loop.
    import anyio

    backend = FaultyKeyring()
    first = Session(KeyringStore(backend=backend), now=clock)
    connected(provider, first)
    second = Session(KeyringStore(backend=backend), now=clock)
    with first.client("demo") as sync_api:
        async with second.async_client("demo") as async_api:
            assert sync_api.get("/api/me").status_code == 200
            assert (await async_api.get("/api/me")).status_code == 200
            clock.advance(LIFETIME)
            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(async_api.get, "/api/me")
                    group.start_soon(anyio.to_thread.run_sync, sync_api.get, "/api/me")
    assert provider.counters.get("token:refresh_token", 0) == 1
    assert provider.counters.get("refresh_token_reuse", 0) == 0


def test_a_new_sign_in_is_stored_only_while_no_other_kernel_renews(
    provider: DemoProvider, clock: FakeClock, nb_oauth_home: Path
) -> None:
    # SEC-27: connect takes the same renewal lock as a refresh, so a kernel refreshing the old
    # grant cannot write its tokens over a fresh consent.
    import threading

    backend = FaultyKeyring()
    session = Session(KeyringStore(backend=backend), now=clock)
    connected(provider, session)
    first = backend.stored()
    other_kernel = KeyringStore(backend=backend).renewal_lock("demo")
    assert other_kernel.acquire(timeout=5)
    robot = BrowserRobot()
    signing_in = threading.Thread(
        target=connect,
        args=(session, "demo"),
        kwargs={"view": QuietView(), "open_url": robot, "timeout": 30},
    )
    try:
        signing_in.start()
        robot.join()  # the code has come back; the flow now redeems and wants to store it
        signing_in.join(0.5)
        assert signing_in.is_alive()  # waiting for the lock
        assert backend.stored() == first  # nothing written meanwhile
    finally:
        other_kernel.release()
    signing_in.join(10)
    assert not signing_in.is_alive()
    assert backend.stored() != first

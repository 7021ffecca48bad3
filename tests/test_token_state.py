"""`TokenState` on its own: the steps of a renewal, in order, for any driver (security.md#renewal,
#single-flight-renewal, #refresh-token-rotation). The drivers and the HTTP are tested through
`OAuth2Auth` (tests/test_auth_flow.py, tests/test_client_integration.py, tests/test_kernels.py)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
import pytest

from nb_oauth.errors import ReauthRequired
from nb_oauth.grants.token_requests import TokenRequest
from nb_oauth.secret import Secret
from nb_oauth.store import MemoryStore
from nb_oauth.token_state import Io, Lock, TokenState
from nb_oauth.tokens import TokenSet
from tests.conftest import FakeClock
from tests.test_auth_flow import LONG, make_datasource, token_reply, user_tokens


def stored(store: MemoryStore, clock: FakeClock, *, access: str, refresh: str | None) -> None:
    store.save_tokens("crm", user_tokens(clock(), access=access, refresh=refresh))


def run(renewal: Generator[Any, Any, TokenSet], answer: httpx.Response) -> tuple[list[str], Any]:
    """Drive a renewal as a driver would; return the kinds of steps seen, and the result."""
    seen: list[str] = []
    reply: Any = None
    try:
        while True:
            step = renewal.send(reply)
            reply = None
            if isinstance(step, Lock):
                seen.append(step.value)
            elif isinstance(step, Io):
                seen.append("io")
                reply = step.call()
            else:
                assert isinstance(step, TokenRequest)
                seen.append(f"token:{step.grant}")
                reply = answer
    except StopIteration as done:
        return seen, done.value


@pytest.fixture
def setup(clock: FakeClock) -> tuple[TokenState, MemoryStore]:
    store = MemoryStore()
    datasource = make_datasource()
    store.save_datasource(datasource)
    store.save_secret("crm", Secret("s3cret"))
    stored(store, clock, access="AT1", refresh="RT1")
    return TokenState(datasource, store=store, now=clock), store


def test_an_expired_token_is_refreshed_under_the_lock_and_stored_before_use(
    setup: tuple[TokenState, MemoryStore], clock: FakeClock
) -> None:
    state, store = setup
    assert state.fresh() is None  # nothing adopted yet
    clock.advance(LONG)  # the stored token has expired
    seen, tokens = run(state.renew(None), token_reply("AT2", "RT2"))
    assert seen == ["acquire", "io", "token:refresh_token", "io", "release"]
    assert tokens.access_token.reveal() == "AT2"
    assert store.load_tokens("crm") == tokens  # stored before the caller gets it
    assert state.fresh() == tokens


def test_a_token_another_kernel_renewed_is_used_without_a_token_request(
    setup: tuple[TokenState, MemoryStore], clock: FakeClock
) -> None:
    state, store = setup
    clock.advance(LONG)
    stored(store, clock, access="AT9", refresh="RT9")  # renewed elsewhere meanwhile
    seen, tokens = run(state.renew(None), token_reply("never sent"))
    assert seen == ["acquire", "io", "release"]
    assert tokens.access_token.reveal() == "AT9"


def test_a_rotated_refresh_token_is_never_adopted_again(
    setup: tuple[TokenState, MemoryStore], clock: FakeClock
) -> None:
    state, store = setup
    clock.advance(LONG)
    run(state.renew(None), token_reply("AT2", "RT2"))
    # The store goes back to the spent RT1 (a stale write elsewhere): it is not believed.
    clock.advance(LONG)
    stored(store, clock, access="AT1-old", refresh="RT1")
    seen, tokens = run(state.renew(None), token_reply("AT3", "RT3"))
    assert "token:refresh_token" in seen
    assert tokens.access_token.reveal() == "AT3"


def test_without_tokens_only_the_user_can_help(clock: FakeClock) -> None:
    store = MemoryStore()
    datasource = make_datasource()
    store.save_datasource(datasource)
    state = TokenState(datasource, store=store, now=clock)
    renewal = state.renew(None)
    assert next(renewal) is Lock.ACQUIRE
    step = renewal.send(None)
    assert isinstance(step, Io)
    with pytest.raises(ReauthRequired, match="not connected"):
        renewal.send(step.call())

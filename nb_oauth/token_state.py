"""`TokenState`: the current token set of one datasource, renewed at most once at a time.

One object owns everything about "which token do I use now, and how do I get a new one": the
cached token set and client secret (a cache of the `TokenStore`, which is the truth), the rules
that pick a token or a token request, the renewal itself, and the locks that make it single-flight
for threads, asyncio tasks and kernels alike. `nb_oauth.oauth2_auth.OAuth2Auth` attaches the token
and reads API responses; it asks this object for tokens, through its sync or its async driver.

The rules (security.md#renewal, #single-flight-renewal, #refresh-token-rotation):

* a token is renewed `refresh_leeway` seconds before it expires (never earlier than half its
  lifetime, see `TokenSet.is_expired`), or when the API rejected it;
* client credentials are fetched again; their responses' refresh tokens are ignored;
* a user token is refreshed with its refresh token (RFC 6749 §6); a refresh response without a
  `refresh_token` keeps the old one, a new one replaces it (rotation);
* without a refresh token the user must sign in again: `ReauthRequired`;
* a renewal takes the locks, then reads the store again (another thread, task or kernel may have
  renewed meanwhile) and renews only if the token is still stale, so N callers on one expired
  token cause one token request;
* after `invalid_grant` the store is read once more: another kernel may have rotated the refresh
  token; otherwise the tokens are deleted;
* a new token set is stored before its access token is used; a refresh token rotated away is never
  sent again, also when storing its successor failed (then the new set lives in memory only, and a
  `StorageWarning` says so).

`renew` is a generator that does no I/O itself: it yields `TokenRequest`s to send, `Lock` steps,
and `Io` store calls, so the same code serves sync and async drivers, which differ only in how
they wait. Never logs; its `repr` shows no token.
"""

from __future__ import annotations

import enum
import threading
import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, Union

import anyio

from nb_oauth.bearer import origin
from nb_oauth.datasource import Datasource
from nb_oauth.errors import ReauthRequired, StorageUnavailable, StorageWarning
from nb_oauth.grants.token_requests import (
    TokenRequest,
    client_credentials_request,
    read_token_response,
    refresh_token_request,
)
from nb_oauth.secret import Secret
from nb_oauth.store import RenewalLock, TokenStore
from nb_oauth.tokens import TokenSet

__all__ = ["Io", "Lock", "RENEWAL_LOCK_TIMEOUT_S", "Step", "TokenResponse", "TokenState"]

#: How long a renewal waits for another process's renewal of the same datasource: longer than one
#: token request may take (security.md#network-faults), so only a stuck kernel makes it run out.
RENEWAL_LOCK_TIMEOUT_S = 90.0
_POLL_S = 0.005


class Lock(enum.Enum):
    """A renewal step: take or give back the renewal locks."""

    ACQUIRE = "acquire"
    RELEASE = "release"


@dataclass(frozen=True)
class Io:
    """A store call for the driver to run (inline, or in a worker thread); its result is sent
    back into the renewal."""

    call: Callable[[], Any]


class TokenResponse(Protocol):
    """What a driver sends back for a `TokenRequest` step: the response, its body read."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    @property
    def headers(self) -> Any: ...


Step = Union[TokenRequest, Lock, Io]


class TokenState:
    """The current `TokenSet` of one datasource and its single-flight renewal.

    `store` holds the client secret and the tokens; `now` is the clock. Thread-safe; one instance
    per datasource is shared by every client of a session, sync and async.
    """

    def __init__(
        self,
        datasource: Datasource,
        *,
        store: TokenStore,
        now: Callable[[], float] = time.time,
        refetch: Callable[[], Datasource] | None = None,
    ) -> None:
        self.datasource = datasource
        # Fetches the metadata again and returns the updated datasource (endpoints that came
        # from metadata); used once when the token endpoint answers 404.
        self._refetch = refetch
        self._store = store
        self._now = now
        self._tokens: TokenSet | None = None
        self._client_secret: Secret | None = None
        self._spent: Secret | None = None  # the refresh token rotated away last
        self._unsaved = False  # the last renewal could not be stored
        self._thread_lock = threading.Lock()
        self._task_lock = anyio.Lock()
        self._store_lock: RenewalLock | None = None  # held between ACQUIRE and RELEASE
        #: The latest DPoP nonce of each server (origin), token endpoint and API alike
        #: (RFC 9449 §8.2, §9): used by the next proof sent there.
        self.dpop_nonces: dict[str, str] = {}

    # --- reading ----------------------------------------------------------------------------------

    @property
    def tokens(self) -> TokenSet | None:
        """The token set last adopted or stored (a cache of the store)."""
        return self._tokens

    def fresh(self) -> TokenSet | None:
        """The cached token set if it needs no renewal now, else `None`."""
        tokens = self._tokens
        if tokens is None or tokens.is_expired(self._now(), self.datasource.refresh_leeway):
            return None
        return tokens

    def use(self, tokens: TokenSet | None) -> None:
        """Use `tokens` from the next request on: after a new sign-in stored them, or `None`
        after a disconnect wiped them (renewals update the state themselves)."""
        with self._thread_lock:
            self._tokens = tokens
            self._spent = None
            self._unsaved = False

    # --- renewing ---------------------------------------------------------------------------------

    def renew(self, stale: TokenSet | None) -> Generator[Step, Any, TokenSet]:
        """Get a token set other than `stale` (a token the API just rejected), single-flight.

        Raises `ReauthRequired` when only the user can help, the token endpoint's errors, and
        `ConfigError` when the client secret the grant needs is not saved.
        """
        yield Lock.ACQUIRE
        # The store is the truth: another client or kernel may have renewed already.
        self._adopt((yield Io(self._load)))
        refetched = reread = False
        for _attempt in (1, 2, 3):
            plan = self._plan(stale)
            if isinstance(plan, TokenSet):
                yield Lock.RELEASE
                return plan
            current = self._tokens
            sent = current.refresh_token if plan.grant == "refresh_token" and current else None
            response: TokenResponse = yield plan
            if plan.dpop_key is not None:
                response = yield from self._with_dpop_nonce(plan, response)
            if response.status_code == 404 and self._refetch is not None and not refetched:
                # The endpoint moved: the metadata it came from is fetched again, once.
                refetched = True
                self.datasource = yield Io(self._refetch)
                continue
            try:
                new = self._accept(plan, response)
            except ReauthRequired:
                if sent is None:
                    raise
                # Read once more: another kernel may have rotated the refresh token.
                if not reread:
                    reread = True
                    if self._adopt((yield Io(self._load)), dead=sent):
                        continue
                # invalid_grant: the refresh token is dead; drop the tokens.
                yield Io(partial(self._store.delete_tokens, self.datasource.name))
                self._tokens = None
                raise
            if sent is not None and new.refresh_token != sent:
                self._spent = sent  # rotated: RFC 6749 §6, the old one is never sent again
            # Persisted before the new access token (or refresh token) is used.
            yield Io(partial(self._save, new))
            self._tokens = new
            yield Lock.RELEASE
            return new
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _plan(self, stale: TokenSet | None) -> TokenSet | TokenRequest:
        """The token set to use, or the token request that gets a new one."""
        current = self._tokens
        if current is not None and self._usable(current, stale):
            return current
        if self.datasource.grant == "client_credentials":
            # RFC 6749 §4.4.3: no refresh token; fetch a new token (with DPoP, for the same key).
            request = client_credentials_request(
                self.datasource, self._client_secret,
                dpop_key=current.dpop_key if current is not None else None,
            )
        elif current is None:
            raise ReauthRequired("not_connected", datasource=self.datasource.name)
        elif not current.refresh_token:
            raise ReauthRequired("no_refresh_token", datasource=self.datasource.name)
        else:
            request = refresh_token_request(self.datasource, self._client_secret, current)
        if request.dpop_key is None:
            return request
        return request.with_dpop_nonce(self.dpop_nonces.get(origin(request.url) or ""))

    def _with_dpop_nonce(
        self, plan: TokenRequest, response: TokenResponse
    ) -> Generator[Step, Any, TokenResponse]:
        """Remember the server's nonce; when it asks for one (`use_dpop_nonce`), send the request
        again once with it (RFC 9449 §8). Asked again: `DPoPError`."""
        from nb_oauth.grants.dpop import nonce_loop, token_endpoint_nonce

        server = origin(plan.url) or plan.url
        for attempt in (1, 2):
            header = response.headers.get("DPoP-Nonce")
            asked = token_endpoint_nonce(response.status_code, header, response.content)
            if header and (asked or 200 <= response.status_code < 300):
                self.dpop_nonces[server] = asked or header
            if asked is None:
                return response
            if attempt == 2:
                raise nonce_loop(self.datasource.name)
            response = yield plan.with_dpop_nonce(asked)
        raise AssertionError("unreachable")

    def _usable(self, tokens: TokenSet, stale: TokenSet | None) -> bool:
        if stale is not None and tokens.access_token == stale.access_token:
            return False
        return not tokens.is_expired(self._now(), self.datasource.refresh_leeway)

    def _accept(self, request: TokenRequest, response: TokenResponse) -> TokenSet:
        new = read_token_response(
            request,
            status_code=response.status_code,
            content_type=response.headers.get("Content-Type"),
            body=response.content,
            now=self._now(),
            datasource=self.datasource.name,
        )
        if request.grant == "refresh_token" and self._tokens is not None:
            # RFC 6749 §6: no new refresh token means the old one stays valid.
            new = self._tokens.with_refresh(new)
        return new

    def _adopt(
        self, stored: tuple[TokenSet | None, Secret | None], *, dead: Secret | None = None
    ) -> bool:
        """Take the stored tokens as the truth, unless they are older than ours: our last save
        failed, or they hold a refresh token we rotated away or saw rejected (`dead`). `True`
        when another usable refresh token was adopted."""
        tokens, client_secret = stored
        self._client_secret = client_secret
        refresh = None if tokens is None else tokens.refresh_token
        if self._unsaved or (refresh is not None and refresh in (self._spent, dead)):
            return False
        self._tokens = tokens
        return refresh is not None and bool(refresh)

    def _load(self) -> tuple[TokenSet | None, Secret | None]:
        # Under the renewal lock only: `fresh` bypasses the store's read cache.
        name = self.datasource.name
        return self._store.load_tokens(name, fresh=True), self._store.load_secret(name)

    def _save(self, tokens: TokenSet) -> None:
        try:
            self._store.save_tokens(self.datasource.name, tokens)
        except StorageUnavailable as error:
            # Keep the new tokens in memory and never fall back to the old ones.
            self._unsaved = True
            name = self.datasource.name
            warnings.warn(
                f"The renewed tokens of {name!r} could not be stored ({error.problem}); they are "
                "kept in this kernel's memory, so another kernel or a restart will need "
                f"nb_oauth.connect({name!r}). To fix: {error.fix}",
                StorageWarning,
                stacklevel=2,
            )
        else:
            self._unsaved = False

    # --- the renewal locks: this object's, then the store's (one process at a time) -------------

    def acquire(self) -> None:
        """Take the renewal locks, blocking (sync drivers). Raises `StorageUnavailable` when
        another process holds the store's lock for too long."""
        self._thread_lock.acquire()
        try:
            if not self._lock_store(RENEWAL_LOCK_TIMEOUT_S):
                raise self._lock_timeout()
        except BaseException:  # KeyboardInterrupt included: never a held lock
            self._thread_lock.release()
            raise

    def release(self) -> None:
        try:
            self._unlock_store()
        finally:
            self._thread_lock.release()

    async def acquire_async(self) -> None:
        """Take the renewal locks without blocking the event loop: tasks of one loop queue on an
        anyio lock; a thread (a sync client sharing this state) or another process holding the
        other locks is polled."""
        await self._task_lock.acquire()
        try:
            while not self._thread_lock.acquire(blocking=False):
                await anyio.sleep(_POLL_S)
            try:
                deadline = anyio.current_time() + RENEWAL_LOCK_TIMEOUT_S
                while not self._lock_store(0):
                    if anyio.current_time() > deadline:
                        raise self._lock_timeout()
                    await anyio.sleep(_POLL_S)
            except BaseException:
                self._thread_lock.release()
                raise
        except BaseException:
            self._task_lock.release()
            raise

    def release_async(self) -> None:
        self.release()
        self._task_lock.release()

    def _lock_store(self, timeout: float) -> bool:
        lock = self._store.renewal_lock(self.datasource.name)
        if not lock.acquire(timeout):
            return False
        self._store_lock = lock
        return True

    def _unlock_store(self) -> None:
        lock, self._store_lock = self._store_lock, None
        if lock is not None:
            lock.release()

    def _lock_timeout(self) -> StorageUnavailable:
        return StorageUnavailable(
            f"another process has been renewing the token of {self.datasource.name!r} for "
            f"{RENEWAL_LOCK_TIMEOUT_S:g} s",
            "try again; if it persists, restart the other kernels using this datasource",
        )

    def __repr__(self) -> str:
        state = "no token" if self._tokens is None else "a token set"
        return f"TokenState(datasource={self.datasource.name!r}, {state})"

"""`OAuth2Auth`: the `httpx.Auth` that attaches a datasource's access token and keeps it fresh.

Use it through `nb_oauth.client(name)` / `nb_oauth.async_client(name)`, or on a client you already
have: `httpx.Client(auth=nb_oauth.auth(name))`.

What it does for every request (docs/security.md):

* The token goes only to the datasource's resource origins (`base_url`, `extra_origins`,
  security.md#where-the-token-goes), as `Authorization: <header_prefix> <token>` or, for
  `token_placement="query"`, as the `query_param` query parameter with `Cache-Control: no-store`
  (RFC 6750 §2.3). Query placement warns once per auth object with `SecurityWarning` (RFC 9700
  §4.3.2, security.md#where-the-token-goes). Responses are handed back pointing at the request
  without the query token, so `response.url` and `raise_for_status()` messages never show it
  (security.md#errors-logs-and-reprs).
* A token is renewed `refresh_leeway` seconds before it expires (security.md#renewal): client
  credentials are fetched again (security.md#renewal), user tokens refreshed (RFC 6749 §6). The new
  token set is saved to the store before the new access token is used
  (security.md#refresh-token-rotation).
* A 401 (RFC 6750 §3.1 `invalid_token`, or no `error` at all) renews once and replays once, if
  the body can be replayed; a second 401 raises `ReauthRequired`, so a broken setup never loops
  and never hands back a 401 that hides the cause (security.md#renewal). Without a refresh token the
  401 raises `ReauthRequired` asking for a reconnect. A 403 with
  `error="insufficient_scope"` raises `InsufficientScope` without renewing; every other response
  is returned unchanged (security.md#bad-server-input).
* `invalid_grant` raises `ReauthRequired` and deletes the stored tokens (security.md#token-errors);
  other token errors and transport failures keep them (security.md#network-faults), so the next call
  tries again.
* Token requests are *yielded*, so they go through the caller's client, transport and event hooks,
  with explicit timeouts (security.md#network-faults).

Design (STYLE rule 3). The protocol runs as ONE generator, `_flow`, used for sync and async. It
yields three kinds of steps: an `httpx.Request` to send, `_Lock.ACQUIRE`/`_Lock.RELEASE` around a
renewal, and `_Io` store calls. It never blocks, sleeps or touches storage itself. The drivers add
only what differs between sync and async:

* `sync_auth_flow` holds a `threading.Lock` between ACQUIRE and RELEASE; `async_auth_flow` holds an
  `anyio.Lock` (so tasks of one event loop queue without threads) and then the same
  `threading.Lock` (so a sync and an async client sharing this auth also renew one at a time).
  Both then take the store's `renewal_lock` (a file lock for the keyring store, so kernels that
  share a datasource renew one at a time; the async driver polls it without blocking the loop).
  Inside the locks the flow re-reads the store, bypassing its cache, and renews only if the token
  is still stale (double-checked), so N threads, tasks or kernels hitting one expired token cause
  one token request (security.md#single-flight-renewal). Locks are released on every exit path,
  errors, `KeyboardInterrupt` and cancellation included (security.md#network-faults).
* After `invalid_grant` the store is re-read once: if it now holds another refresh token (another
  kernel rotated it), the renewal is retried with that one instead of failing
  (security.md#single-flight-renewal).
* A refresh token this auth has spent is never adopted from the store again (RFC 6749 §6). If
  saving a rotated refresh token fails, the new tokens stay in memory, a `StorageWarning` says the
  next kernel will need a new consent, and the old token is never sent again
  (security.md#refresh-token-rotation).
* Store calls run inline (sync) or in a worker thread (async), so a keyring never blocks the loop.
* Only token responses are read by the auth, with the size cap of security.md#bad-server-input and a
  typed timeout; API responses stay streamable (`client.stream(...)`). This is why
  `requires_response_body` is False, unlike STYLE rule 3's default: that flag would read every API
  response into memory.

`auth_flow` (httpx's public hook, and what the unit tests drive with `next`/`send`) runs the same
flow without locking. Transport errors of a token request (connect failure, a timeout before the
response headers) are raised by httpx itself, below the auth flow, as `httpx.TransportError`s;
the stored tokens are kept. `TokenEndpointTimeout` also subclasses `httpx.TimeoutException`, so
`except httpx.TimeoutException` catches a token endpoint that stalls at any point.

Never logs; no repr, str or error message shows a token or secret
(security.md#errors-logs-and-reprs).
"""

from __future__ import annotations

import enum
import threading
import time
import warnings
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn, Protocol, Union

import anyio
import httpx

from nb_oauth.bearer import Verdict, classify, parse_challenges
from nb_oauth.datasource import Datasource
from nb_oauth.errors import (
    ConfigError,
    InsufficientScope,
    NbOAuthError,
    ReauthRequired,
    SecurityWarning,
    StorageUnavailable,
    StorageWarning,
)
from nb_oauth.keeper import TokenKeeper
from nb_oauth.logs import install_log_filter
from nb_oauth.redirects import TOKEN_ATTACHED, TokenAttachment, scrub_response, without_token
from nb_oauth.secret import Secret
from nb_oauth.store import RenewalLock, TokenStore
from nb_oauth.token_http import (
    DEFAULT_TIMEOUT,
    aread_token_body,
    is_token_request,
    read_token_body,
    request_error,
    token_http_request,
)
from nb_oauth.tokens import TokenSet

__all__ = ["OAuth2Auth"]


class _Lock(enum.Enum):
    ACQUIRE = "acquire"
    RELEASE = "release"


@dataclass(frozen=True)
class _Io:
    """A store call for the driver to run; its result is sent back into the flow."""

    call: Callable[[], Any]


_Step = Union[httpx.Request, _Lock, _Io]

#: How long a renewal waits for another process's renewal of the same datasource
# (security.md#single-flight-renewal): longer
#: than one token request may take (security.md#network-faults), so only a stuck kernel makes it run
# out.
RENEWAL_LOCK_TIMEOUT_S = 90.0
_POLL_S = 0.005


class _Mutex(Protocol):
    def acquire(self) -> object: ...

    def release(self) -> None: ...


class _NoLock:
    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class _RenewalMutex:
    """The sync driver's renewal lock: the auth's thread lock, then the store's
    (security.md#single-flight-renewal)."""

    def __init__(self, auth: OAuth2Auth) -> None:
        self._auth = auth

    def acquire(self) -> bool:
        auth = self._auth
        auth._thread_lock.acquire()
        try:
            if not auth._lock_store(RENEWAL_LOCK_TIMEOUT_S):
                raise auth._lock_timeout()
        except BaseException:  # KeyboardInterrupt included: never a held lock
        # (security.md#network-faults)
            auth._thread_lock.release()
            raise
        return True

    def release(self) -> None:
        try:
            self._auth._unlock_store()
        finally:
            self._auth._thread_lock.release()


class OAuth2Auth(httpx.Auth):
    """The OAuth 2.0 `httpx.Auth` of one datasource; share one instance among clients.

    `store` holds the datasource's client secret and tokens; `now` is the clock (injected in
    tests); `token_timeout` bounds every token request (security.md#network-faults). Raises
    `ConfigError` when the datasource has no resource origin (no `base_url` nor `extra_origins`):
    the token would go nowhere. Warns with `SecurityWarning` for query placement
    (security.md#where-the-token-goes).
    """

    requires_request_body = False
    requires_response_body = False  # token responses are read by the drivers (module docstring)

    def __init__(
        self,
        datasource: Datasource,
        *,
        store: TokenStore,
        now: Callable[[], float] = time.time,
        token_timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        if not datasource.resource_origins:
            raise ConfigError(
                "base_url",
                "is not set, so the access token may be sent nowhere",
                "set base_url to the API root, or list the API's origins in extra_origins",
            )
        self.datasource = datasource
        self._store = store
        self._keeper = TokenKeeper(datasource, now=now)
        self._token_timeout = token_timeout
        query = datasource.token_placement == "query"
        self._attachment = TokenAttachment(
            frozenset(datasource.resource_origins), datasource.query_param if query else None
        )
        self._schemes = ("bearer", datasource.effective_header_prefix.lower())
        self._thread_lock = threading.Lock()
        self._task_lock = anyio.Lock()
        self._spent: Secret | None = None  # the refresh token rotated away last
        # (security.md#refresh-token-rotation)
        self._unsaved = False  # the last renewal could not be stored
        # (security.md#refresh-token-rotation)
        self._store_lock: RenewalLock | None = None  # held between ACQUIRE and RELEASE
        install_log_filter([datasource.query_param], [datasource.effective_header_prefix])
        if query:
            warnings.warn(
                f"Datasource {datasource.name!r} sends its access token in the URL query "
                f"({datasource.query_param}=...), which RFC 9700 §4.3.2 forbids: URLs end up in "
                "logs, proxies and browser history. Use token_placement='header' unless the API "
                "accepts nothing else.",
                SecurityWarning,
                stacklevel=2,
            )

    # --- the one flow (sync and async) ----------------------------------------------------------

    def _run(self, request: httpx.Request) -> Generator[_Step, Any, None]:
        try:
            yield from self._flow(request)
        except NbOAuthError as error:
            # The request-time twin (also an httpx.HTTPError), carrying the request as the caller
            # wrote it, without a token; `from None` keeps the core error out of tracebacks.
            raise request_error(error, request) from None

    def _flow(self, request: httpx.Request) -> Generator[_Step, Any, None]:
        if not self._attachment.allows(request.url):
            # security.md#where-the-token-goes: another origin never gets the token; a redirect of
            # ours that the caller re-sends (`response.next_request`) loses the one it carried.
            if TOKEN_ATTACHED in request.extensions:
                request = without_token(request, self._attachment)
            yield request
            return
        tokens = self._keeper.fresh()
        if tokens is None:
            tokens = yield from self._renew(stale=None)
        response = yield self._authorized(request, tokens)
        verdict = self._verdict(response)
        if verdict is Verdict.RENEW and isinstance(request.stream, httpx.ByteStream):
            # RFC 6750 §3.1 invalid_token: renew once, replay once, never loop
            # (security.md#renewal). A streamed body cannot be sent twice, so its 401 is returned as
            # is.
            tokens = yield from self._renew(stale=tokens)
            response = yield self._authorized(request, tokens)
            verdict = self._verdict(response)
            if verdict is Verdict.RENEW:
                raise ReauthRequired("rejected", datasource=self.datasource.name)
        if verdict is Verdict.INSUFFICIENT_SCOPE:
            raise self._insufficient_scope(response)

    def _renew(self, stale: TokenSet | None) -> Generator[_Step, Any, TokenSet]:
        """Get a token set other than `stale`, single-flight; see the module docstring."""
        yield _Lock.ACQUIRE
        # security.md#single-flight-renewal: the store is the truth; another client or kernel may
        # have renewed already.
        self._adopt((yield _Io(self._load)))
        for attempt in (1, 2):
            plan = self._keeper.renewal(stale)
            if isinstance(plan, TokenSet):
                yield _Lock.RELEASE
                return plan
            current = self._keeper.tokens
            sent = current.refresh_token if plan.grant == "refresh_token" and current else None
            response = yield token_http_request(plan, self._token_timeout)
            try:
                new = self._keeper.accept(
                    plan,
                    status_code=response.status_code,
                    content_type=response.headers.get("Content-Type"),
                    body=response.content,
                )
            except ReauthRequired:
                if sent is None:
                    raise
                # security.md#single-flight-renewal: re-read once; another kernel may have rotated
                # the refresh token.
                if attempt == 1 and self._adopt((yield _Io(self._load)), dead=sent):
                    continue
                # security.md#token-errors: invalid_grant means the refresh token is dead; drop the
                # tokens.
                yield _Io(partial(self._store.delete_tokens, self.datasource.name))
                self._keeper.installed(None)
                raise
            if sent is not None and new.refresh_token != sent:
                self._spent = sent  # rotated: RFC 6749 §6, the old one is never sent again
            # security.md#refresh-token-rotation: persisted before the new access token (or refresh
            # token) is used.
            yield _Io(partial(self._save, new))
            self._keeper.installed(new)
            yield _Lock.RELEASE
            return new
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _adopt(
        self, stored: tuple[TokenSet | None, Secret | None], *, dead: Secret | None = None
    ) -> bool:
        """Take the stored tokens as the truth, unless they are older than ours: our last save
        failed, or they hold a refresh token we rotated away or saw rejected (`dead`). `True`
        when another usable refresh token was adopted."""
        tokens, client_secret = stored
        refresh = None if tokens is None else tokens.refresh_token
        stale = refresh is not None and refresh in (self._spent, dead)
        if self._unsaved or stale:
            self._keeper.adopt(self._keeper.tokens, client_secret)
            return False
        self._keeper.adopt(tokens, client_secret)
        return refresh is not None and bool(refresh)

    def _save(self, tokens: TokenSet) -> None:
        try:
            self._store.save_tokens(self.datasource.name, tokens)
        except StorageUnavailable as error:
            # security.md#refresh-token-rotation: keep the new tokens in memory and never fall back
            # to the old ones.
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

    def use_tokens(self, tokens: TokenSet | None) -> None:
        """Use `tokens` from the next request on: after a new consent stored them, or `None`
        after a disconnect wiped them. (Renewals update themselves; this is for outside changes.)
        """
        with self._thread_lock:
            self._keeper.installed(tokens)
            self._spent = None
            self._unsaved = False

    def _load(self) -> tuple[TokenSet | None, Secret | None]:
        # Called under the renewal lock only: `fresh` bypasses the store's read cache
        # (security.md#single-flight-renewal).
        name = self.datasource.name
        return self._store.load_tokens(name, fresh=True), self._store.load_secret(name)

    def _authorized(self, request: httpx.Request, tokens: TokenSet) -> httpx.Request:
        """`request` carrying the access token.

        Header placement sets the header on `request` itself, as httpx's own auth classes do
        (httpx masks `Authorization` in every repr); this runs on every request, so it avoids a
        copy. Query placement works on a copy: a token in a URL would show in the caller's request
        object, its repr and any error message built from it (security.md#where-the-token-goes,
        #errors-logs-and-reprs).
        """
        token = tokens.access_token.reveal()
        if not self._attachment.query_param:
            # RFC 6750 §2.1, with the configured scheme whatever case the server used
            # (security.md#reading-token-responses).
            request.headers["Authorization"] = f"{self.datasource.effective_header_prefix} {token}"
            request.extensions[TOKEN_ATTACHED] = self._attachment
            return request
        # RFC 6750 §2.3: the query form, with `Cache-Control: no-store`
        # (security.md#where-the-token-goes).
        headers = httpx.Headers(request.headers)
        headers["Cache-Control"] = "no-store"
        return httpx.Request(
            request.method,
            request.url.copy_set_param(self._attachment.query_param, token),
            headers=headers,
            stream=request.stream,
            extensions={**request.extensions, TOKEN_ATTACHED: self._attachment},
        )

    def _verdict(self, response: httpx.Response) -> Verdict:
        if self._attachment.query_param:
            scrub_response(response, self._attachment.query_param)
        challenges = response.headers.get_list("WWW-Authenticate")
        return classify(response.status_code, challenges, self._schemes)

    def _insufficient_scope(self, response: httpx.Response) -> InsufficientScope:
        description = None
        for challenge in parse_challenges(response.headers.get_list("WWW-Authenticate")):
            if challenge.params.get("error") == "insufficient_scope":
                description = challenge.params.get("error_description")
                break
        return InsufficientScope(
            description, status_code=response.status_code, datasource=self.datasource.name
        )

    # --- drivers ----------------------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """httpx's generator protocol, without locking: for driving by hand in tests.

        Clients use `sync_auth_flow` / `async_auth_flow`, which run the same flow with locking.
        """
        return self._drive(request, _NoLock())

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        return self._drive(request, _RenewalMutex(self))

    def _drive(
        self, request: httpx.Request, lock: _Mutex
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._run(request)
        held = False
        try:
            step = next(flow)
            while True:
                reply: Any = None
                if step is _Lock.ACQUIRE:
                    try:
                        lock.acquire()
                    except NbOAuthError as error:  # the store's lock file
                    # (security.md#single-flight-renewal)
                        raise request_error(error, request) from None
                    held = True
                elif step is _Lock.RELEASE:
                    held = False
                    lock.release()
                elif isinstance(step, _Io):
                    reply = self._call(step, request)
                else:
                    reply = yield step
                    if is_token_request(step):
                        read_token_body(reply)
                try:
                    step = flow.send(reply)
                except StopIteration:
                    return
        finally:
            if held:
                lock.release()
            flow.close()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._run(request)
        held = False
        try:
            step = next(flow)
            while True:
                reply: Any = None
                if step is _Lock.ACQUIRE:
                    try:
                        await self._acquire_async()
                    except NbOAuthError as error:  # the store's lock file
                    # (security.md#single-flight-renewal)
                        raise request_error(error, request) from None
                    held = True
                elif step is _Lock.RELEASE:
                    held = False
                    self._release_async()
                elif isinstance(step, _Io):
                    reply = await anyio.to_thread.run_sync(self._call, step, request)
                else:
                    reply = yield step
                    if is_token_request(step):
                        await aread_token_body(reply)
                try:
                    step = flow.send(reply)
                except StopIteration:
                    return
        finally:
            if held:
                self._release_async()
            flow.close()

    async def _acquire_async(self) -> None:
        await self._task_lock.acquire()
        try:
            # Another thread (a sync client sharing this auth) may be renewing: wait without
            # blocking the event loop. Tasks of this loop already queue on the anyio lock.
            while not self._thread_lock.acquire(blocking=False):
                await anyio.sleep(_POLL_S)
            try:
                # Another kernel may be renewing (security.md#single-flight-renewal): poll its file
                # lock, never block.
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

    def _release_async(self) -> None:
        self._unlock_store()
        self._thread_lock.release()
        self._task_lock.release()

    def _lock_store(self, timeout: float) -> bool:
        """Take the store's renewal lock (the caller holds `_thread_lock`, so one at a time)."""
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

    @staticmethod
    def _call(step: _Io, request: httpx.Request) -> Any:
        try:
            return step.call()
        except NbOAuthError as error:  # StorageUnavailable from a keyring-backed store
            raise request_error(error, request) from None

    def __repr__(self) -> str:
        return (
            f"OAuth2Auth(datasource={self.datasource.name!r}, "
            f"token_placement={self.datasource.token_placement!r})"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("an OAuth2Auth holds credentials and cannot be pickled")

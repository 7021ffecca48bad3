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
* DPoP (RFC 9449, `dpop=True`, security.md#dpop): a DPoP-bound token goes as
  `Authorization: DPoP <token>` with a fresh proof (`ath` included) on every request; a 401 that
  asks for a nonce (`use_dpop_nonce`) is replayed once with it, and the latest nonce of each
  server is kept; asked again, `DPoPError`.

Design (STYLE rule 3). The token state of the datasource (which token to use, single-flight
renewal, rotation, the locks) is one object, `nb_oauth.token_state.TokenState`; this module
attaches its token to requests and reads what the API answers. The protocol runs as ONE
generator, `_flow`, for sync and async. It yields an `httpx.Request` to send, and the token
state's steps: a `TokenRequest` to send to the token endpoint, `Lock.ACQUIRE`/`Lock.RELEASE`
around a renewal, and `Io` store calls. It never blocks, sleeps or touches storage itself. The two
drivers, `sync_auth_flow` and `async_auth_flow`, add only how each step waits:

* the locks: the state's thread lock and the store's file lock, blocking (sync); an anyio lock,
  then the same locks polled without blocking the event loop (async);
* store calls inline (sync) or in a worker thread (async), so a keyring never blocks the loop;
* token responses read with the size cap (security.md#bad-server-input) and a typed timeout;
  API responses stay streamable (`client.stream(...)`), which is why `requires_response_body`
  is False, unlike STYLE rule 3's default: that flag would read every API response into memory.

Locks are released on every exit path, errors, `KeyboardInterrupt` and cancellation included
(security.md#network-faults). `auth_flow`, httpx's generic hook, is the sync driver: there is no
lock-free path. Transport errors of a token request (connect failure, a timeout before the
response headers) are raised by httpx itself, below the auth flow, as `httpx.TransportError`s;
the stored tokens are kept. `TokenEndpointTimeout` also subclasses `httpx.TimeoutException`, so
`except httpx.TimeoutException` catches a token endpoint that stalls at any point.

Never logs; no repr, str or error message shows a token or secret
(security.md#errors-logs-and-reprs).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, NoReturn, Union

import anyio
import httpx

from nb_oauth.bearer import Verdict, classify, origin, parse_challenges
from nb_oauth.datasource import Datasource
from nb_oauth.errors import (
    ConfigError,
    InsufficientScope,
    NbOAuthError,
    ReauthRequired,
    SecurityWarning,
)
from nb_oauth.grants.signing import SigningKey
from nb_oauth.grants.token_requests import TokenRequest
from nb_oauth.logs import install_log_filter
from nb_oauth.redirects import TOKEN_ATTACHED, TokenAttachment, scrub_response, without_token
from nb_oauth.secret import Secret
from nb_oauth.store import TokenStore
from nb_oauth.token_http import (
    DEFAULT_TIMEOUT,
    aread_token_body,
    read_token_body,
    request_error,
    token_http_request,
)
from nb_oauth.token_state import Io, Lock, TokenState
from nb_oauth.tokens import TokenSet

__all__ = ["OAuth2Auth"]

_Step = Union[httpx.Request, TokenRequest, Lock, Io]


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
        refetch: Callable[[], Datasource] | None = None,
    ) -> None:
        if not datasource.resource_origins:
            raise ConfigError(
                "base_url",
                "is not set, so the access token may be sent nowhere",
                "set base_url to the API root, or list the API's origins in extra_origins",
            )
        self.datasource = datasource
        #: The datasource's token state, shared by every client that uses this auth.
        self.state = TokenState(datasource, store=store, now=now, refetch=refetch)
        self._token_timeout = token_timeout
        query = datasource.token_placement == "query"
        self._attachment = TokenAttachment(
            frozenset(datasource.resource_origins), datasource.query_param if query else None
        )
        self._schemes = ("bearer", datasource.effective_header_prefix.lower(), "dpop")
        self._dpop_key: tuple[Secret, SigningKey] | None = None  # the loaded key, by its PEM
        self._dpop_ath: tuple[Secret, str] | None = None  # the ath of the current token
        self._headers = tuple(datasource.headers.items())
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
        # The datasource's default API headers (an API version, Accept): the caller's win, and
        # they go only where the token goes, never to the token endpoint.
        for name, value in self._headers:
            if name not in request.headers:
                request.headers[name] = value
        tokens = self.state.fresh()
        if tokens is None:
            tokens = yield from self.state.renew(stale=None)
        response = yield self._authorized(request, tokens)
        if tokens.dpop_key is not None:
            response = yield from self._with_dpop_nonce(request, tokens, response)
        verdict = self._verdict(response)
        if verdict is Verdict.RENEW and isinstance(request.stream, httpx.ByteStream):
            # RFC 6750 §3.1 invalid_token: renew once, replay once, never loop
            # (security.md#renewal). A streamed body cannot be sent twice, so its 401 is returned as
            # is.
            tokens = yield from self.state.renew(stale=tokens)
            response = yield self._authorized(request, tokens)
            if tokens.dpop_key is not None:
                response = yield from self._with_dpop_nonce(request, tokens, response)
            verdict = self._verdict(response)
            if verdict is Verdict.RENEW:
                raise ReauthRequired("rejected", datasource=self.datasource.name)
        if verdict is Verdict.INSUFFICIENT_SCOPE:
            raise self._insufficient_scope(response)

    def _with_dpop_nonce(
        self, request: httpx.Request, tokens: TokenSet, response: httpx.Response
    ) -> Generator[_Step, Any, httpx.Response]:
        """Keep the API's latest DPoP nonce; when a 401 asks for one, replay once with it
        (RFC 9449 §9). Asked again: `DPoPError`. A streamed body is not replayed."""
        header = response.headers.get("DPoP-Nonce")
        if header is None and response.status_code != 401:
            return response  # the steady state: nothing to remember, nothing asked
        from nb_oauth.grants.dpop import api_nonce, fresh_nonce, nonce_loop

        server = origin(str(request.url)) or ""
        for attempt in (1, 2):
            header = response.headers.get("DPoP-Nonce")
            asked = api_nonce(
                response.status_code, response.headers.get_list("WWW-Authenticate"), header
            )
            if asked is not None or (header and response.status_code < 400):
                nonce = asked or fresh_nonce(header)
                if nonce is not None:
                    self.state.dpop_nonces[server] = nonce
            if asked is None or not isinstance(request.stream, httpx.ByteStream):
                return response
            if attempt == 2:
                raise nonce_loop(self.datasource.name, server="API")
            response = yield self._authorized(request, tokens)
        raise AssertionError("unreachable")

    def _dpop_proof(self, request: httpx.Request, tokens: TokenSet, token: str) -> str:
        from nb_oauth.grants.dpop import ath, load_dpop_key, proof

        pem = tokens.dpop_key
        assert pem is not None
        cached = self._dpop_key
        if cached is None or cached[0] is not pem:
            # Parsed once per key: steady-state requests cost one signature (security.md#dpop).
            cached = self._dpop_key = (pem, load_dpop_key(pem, datasource=self.datasource.name))
        hashed = self._dpop_ath
        if hashed is None or hashed[0] is not tokens.access_token:
            hashed = self._dpop_ath = (tokens.access_token, ath(token))
        nonces = self.state.dpop_nonces
        nonce = nonces.get(origin(str(request.url)) or "") if nonces else None
        return proof(cached[1], request.method, str(request.url), nonce=nonce,
                     token_hash=hashed[1])

    def use_tokens(self, tokens: TokenSet | None) -> None:
        """Use `tokens` from the next request on: after a new consent stored them, or `None`
        after a disconnect wiped them. (Renewals update themselves; this is for outside changes.)
        """
        self.state.use(tokens)

    def _authorized(self, request: httpx.Request, tokens: TokenSet) -> httpx.Request:
        """`request` carrying the access token.

        Header placement sets the header on `request` itself, as httpx's own auth classes do
        (httpx masks `Authorization` in every repr); this runs on every request, so it avoids a
        copy. Query placement works on a copy: a token in a URL would show in the caller's request
        object, its repr and any error message built from it (security.md#where-the-token-goes,
        #errors-logs-and-reprs).
        """
        token = tokens.access_token.reveal()
        if tokens.dpop_key is not None and tokens.token_type == "DPoP":
            # RFC 9449 §7.1: the DPoP scheme, and a proof bound to this token (ath).
            request.headers["Authorization"] = f"DPoP {token}"
            request.headers["DPoP"] = self._dpop_proof(request, tokens, token)
            request.extensions[TOKEN_ATTACHED] = self._attachment
            return request
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

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._run(request)
        held = False
        try:
            step = next(flow)
            while True:
                reply: Any = None
                if step is Lock.ACQUIRE:
                    self._guard(self.state.acquire, request)
                    held = True
                elif step is Lock.RELEASE:
                    held = False
                    self.state.release()
                elif isinstance(step, Io):
                    reply = self._guard(step.call, request)
                elif isinstance(step, TokenRequest):
                    reply = yield token_http_request(step, self._token_timeout)
                    read_token_body(reply)
                else:
                    reply = yield step
                try:
                    step = flow.send(reply)
                except StopIteration:
                    return
        finally:
            if held:
                self.state.release()
            flow.close()

    #: httpx's generic hook is the sync driver: every path takes the renewal locks.
    auth_flow = sync_auth_flow

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._run(request)
        held = False
        try:
            step = next(flow)
            while True:
                reply: Any = None
                if step is Lock.ACQUIRE:
                    try:
                        await self.state.acquire_async()
                    except NbOAuthError as error:  # the store's lock file
                        raise request_error(error, request) from None
                    held = True
                elif step is Lock.RELEASE:
                    held = False
                    self.state.release_async()
                elif isinstance(step, Io):
                    reply = await anyio.to_thread.run_sync(self._guard, step.call, request)
                elif isinstance(step, TokenRequest):
                    reply = yield token_http_request(step, self._token_timeout)
                    await aread_token_body(reply)
                else:
                    reply = yield step
                try:
                    step = flow.send(reply)
                except StopIteration:
                    return
        finally:
            if held:
                self.state.release_async()
            flow.close()

    @staticmethod
    def _guard(call: Callable[[], Any], request: httpx.Request) -> Any:
        """Run a lock or store call; its `StorageUnavailable` carries the caller's request."""
        try:
            return call()
        except NbOAuthError as error:
            raise request_error(error, request) from None

    def __repr__(self) -> str:
        return (
            f"OAuth2Auth(datasource={self.datasource.name!r}, "
            f"token_placement={self.datasource.token_placement!r})"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("an OAuth2Auth holds credentials and cannot be pickled")

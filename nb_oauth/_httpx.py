"""The httpx-specific pieces around `nb_oauth.oauth2_auth.OAuth2Auth`.

Together with `nb_oauth.oauth2_auth` (and the client factories in `nb_oauth.session`) this is
the only code that imports httpx. The protocol decisions live in `nb_oauth.bearer`,
`nb_oauth.keeper` and `nb_oauth.grants`, over plain strings and bytes, so that supporting httpx2
(same API, maintained continuation of httpx) means changing the imports in these three modules,
not the protocol logic.

* `request_error`, which attaches the request to an error that is also an `httpx.HTTPError`
  (the errors that can surface from `client.get(...)`, declared in `nb_oauth.errors`).
* `DEFAULT_TIMEOUT`, the explicit timeouts of every client nb_oauth builds and of every token
  request (SEC-46).
* The redirect guard, an event hook that strips the token from a redirect hop that leaves the
  datasource's origins (SEC-32): httpx follows redirects *below* the auth flow, so the flow never
  sees a hop, and httpx drops a cross-origin `Authorization` header but not a query parameter.
* Converting `TokenRequest` data to `httpx.Request`, and reading token responses with a size cap
  and a typed timeout (SEC-45, SEC-46).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from nb_oauth import errors
from nb_oauth.bearer import origin
from nb_oauth.grants.token_requests import TokenRequest
from nb_oauth.tokens import MAX_TOKEN_RESPONSE_BYTES

__all__ = [
    "aread_token_body",
    "async_redirect_guard",
    "DEFAULT_TIMEOUT",
    "is_token_request",
    "read_token_body",
    "redirect_guard",
    "request_error",
    "scrub_response",
    "get_document",
    "send_token_request",
    "TOKEN_ATTACHED",
    "TOKEN_REQUEST",
    "TokenAttachment",
    "token_http_request",
    "url_origin",
    "without_token",
]

# SEC-46: connect, read, write and pool timeouts, never None.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)

# Request extensions (copied by httpx onto redirect hops) that mark nb_oauth's requests.
TOKEN_REQUEST = "nb_oauth.token_request"  # value: the token endpoint's origin
TOKEN_ATTACHED = "nb_oauth.token_attached"  # value: a TokenAttachment


@dataclass(frozen=True)
class TokenAttachment:
    """Where a request's access token may go: the datasource's origins and its query parameter."""

    origins: frozenset[str]
    query_param: str | None

    def allows(self, url: httpx.URL) -> bool:
        """True when `url` is on one of the datasource's resource origins (SEC-32)."""
        return url_origin(url) in self.origins


_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: httpx.URL) -> str | None:
    """`nb_oauth.bearer.origin` of an already parsed httpx URL, without parsing it again.

    It runs on every request (and every redirect hop), so it reads httpx's normalised parts
    (lower-case scheme and host) instead of re-parsing the URL string.
    """
    default_port = _DEFAULT_PORTS.get(url.scheme)
    host = url.host
    if default_port is None or not host:
        return None
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    return f"{url.scheme}://{host}:{url.port or default_port}"


def request_error(error: errors.NbOAuthError, request: httpx.Request) -> errors.NbOAuthError:
    """`error` carrying `request` (as the caller wrote it: no token) when it is also an
    `httpx.HTTPError` (see `nb_oauth.errors`); other errors are returned unchanged."""
    if isinstance(error, httpx.HTTPError):
        error.request = request
    return error


# --- the redirect guard (SEC-32) -----------------------------------------------------------------


def redirect_guard(request: httpx.Request) -> None:
    """A request event hook: a redirect hop that leaves the datasource's origins loses the token.

    httpx runs request hooks before every hop. A hop of a token-bearing request (marked by the
    auth) to another origin loses its `Authorization` header and the token query parameter; a
    token request redirected to another origin is refused with `TokenEndpointError`, because its
    body holds credentials. Other requests are untouched.
    """
    token_endpoint = request.extensions.get(TOKEN_REQUEST)
    if isinstance(token_endpoint, str) and url_origin(request.url) != token_endpoint:
        raise request_error(
            errors.TokenEndpointError(
                "the token endpoint redirected to another origin",
                status_code=307,
                content_type=None,
            ),
            request,
        )
    attached = request.extensions.get(TOKEN_ATTACHED)
    if not isinstance(attached, TokenAttachment):
        return
    if attached.allows(request.url):
        return
    request.headers.pop("Authorization", None)
    if attached.query_param:
        request.url = request.url.copy_remove_param(attached.query_param)


async def async_redirect_guard(request: httpx.Request) -> None:
    """`redirect_guard` for `httpx.AsyncClient`, whose event hooks are awaited."""
    redirect_guard(request)


def without_token(request: httpx.Request, attached: TokenAttachment) -> httpx.Request:
    """A copy of `request` without the `Authorization` header and the token query parameter."""
    headers = httpx.Headers(request.headers)
    headers.pop("Authorization", None)
    url = request.url
    if attached.query_param:
        url = url.copy_remove_param(attached.query_param)
    return httpx.Request(
        request.method, url, headers=headers, stream=request.stream, extensions=request.extensions
    )


def scrub_response(response: httpx.Response, query_param: str) -> None:
    """Point `response` (and its redirect history) at requests without the query token.

    So `response.url`, `response.raise_for_status()` messages and `response.request` never show
    the token (SEC-42). Header tokens need nothing: httpx hides `Authorization` in reprs.
    """
    for item in (*response.history, response):
        try:
            request = item.request
        except RuntimeError:  # a response built by hand has no request
            continue
        if query_param in request.url.params:
            item.request = httpx.Request(
                request.method,
                request.url.copy_remove_param(query_param),
                headers=request.headers,
                stream=request.stream,
                extensions=request.extensions,
            )


# --- token requests ------------------------------------------------------------------------------


def token_http_request(request: TokenRequest, timeout: httpx.Timeout) -> httpx.Request:
    """`request` as an `httpx.Request`, with explicit timeouts (SEC-46) and nb_oauth's marker.

    Built directly rather than through a client, so the client's default headers and cookies
    (meant for the API) never reach the token endpoint.
    """
    return httpx.Request(
        request.method,
        request.url,
        headers=dict(request.headers),
        content=request.body,
        extensions={"timeout": timeout.as_dict(), TOKEN_REQUEST: origin(request.url)},
    )


def is_token_request(request: httpx.Request) -> bool:
    """True for a request built by `token_http_request` (or a redirect hop of one)."""
    return TOKEN_REQUEST in request.extensions


def _declared_too_large(response: httpx.Response) -> bool:
    declared = response.headers.get("Content-Length", "")
    return declared.isdigit() and int(declared) > MAX_TOKEN_RESPONSE_BYTES


def _too_large(response: httpx.Response) -> errors.NbOAuthError:
    return request_error(
        errors.TokenEndpointError(
            f"the body is larger than {MAX_TOKEN_RESPONSE_BYTES} bytes",
            status_code=response.status_code,
            content_type=response.headers.get("Content-Type"),
        ),
        response.request,
    )


def _timed_out(request: httpx.Request) -> errors.NbOAuthError:
    timeout = request.extensions.get("timeout", {}).get("read")
    return request_error(
        errors.TokenEndpointTimeout(timeout if isinstance(timeout, (int, float)) else None),
        request,
    )


def read_token_body(response: httpx.Response) -> None:
    """Read a token endpoint response (SEC-45: refuse a declared size above the cap; SEC-46).

    Raises the twins of `TokenEndpointError` and `TokenEndpointTimeout`.
    """
    if _declared_too_large(response):
        raise _too_large(response)
    try:
        response.read()
    except httpx.TimeoutException:
        raise _timed_out(response.request) from None


async def aread_token_body(response: httpx.Response) -> None:
    """`read_token_body` for `httpx.AsyncClient`."""
    if _declared_too_large(response):
        raise _too_large(response)
    try:
        await response.aread()
    except httpx.TimeoutException:
        raise _timed_out(response.request) from None


# --- token requests outside a client's auth flow (consent, disconnect) --------------------------


def send_token_request(
    request: TokenRequest, timeout: httpx.Timeout = DEFAULT_TIMEOUT
) -> httpx.Response:
    """POST `request` on a short-lived client of its own and return the read response.

    Used where no API client is involved: redeeming an authorization code and revoking tokens.
    Redirects are not followed (a token endpoint has no reason to redirect, and its body holds
    credentials). Raises the twins of `TokenEndpointError` / `TokenEndpointTimeout`, and httpx's
    transport errors; never logs the body.
    """
    with httpx.Client(follow_redirects=False) as client:
        response = client.send(token_http_request(request, timeout), stream=True)
        try:
            read_token_body(response)
        finally:
            response.close()
    return response


def get_document(url: str, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> tuple[int, bytes]:
    """GET a small JSON document (authorization server metadata): status and body.

    Same size cap as token responses (SEC-45); redirects are not followed. Raises httpx's
    transport errors and the twins of `TokenEndpointError` / `TokenEndpointTimeout`.
    """
    request = httpx.Request(
        "GET",
        url,
        headers={"Accept": "application/json"},
        extensions={"timeout": timeout.as_dict()},
    )
    with httpx.Client(follow_redirects=False) as client:
        response = client.send(request, stream=True)
        try:
            read_token_body(response)
        finally:
            response.close()
    return response.status_code, response.content

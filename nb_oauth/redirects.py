"""Where an access token may go, on httpx: the redirect guard and the token-stripping helpers.

httpx follows redirects *below* the auth flow, so the flow never sees a hop, and httpx drops a
cross-origin `Authorization` header but not a query parameter. The redirect guard, an event hook,
strips the token from a hop that leaves the datasource's origins, and refuses a token request that
is redirected at all (its body holds credentials). docs/security.md, "Where the token goes".
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from nb_oauth import errors
from nb_oauth.token_http import TOKEN_REQUEST, request_error

__all__ = [
    "async_redirect_guard",
    "redirect_guard",
    "scrub_response",
    "TOKEN_ATTACHED",
    "TokenAttachment",
    "url_origin",
    "without_token",
]

# A request extension (copied by httpx onto redirect hops) that marks a token-bearing request.
TOKEN_ATTACHED = "nb_oauth.token_attached"  # value: a TokenAttachment


@dataclass(frozen=True)
class TokenAttachment:
    """Where a request's access token may go: the datasource's origins and its query parameter."""

    origins: frozenset[str]
    query_param: str | None

    def allows(self, url: httpx.URL) -> bool:
        """True when `url` is on one of the datasource's resource origins
        (security.md#where-the-token-goes)."""
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
    the token (security.md#errors-logs-and-reprs). Header tokens need nothing: httpx hides
    `Authorization` in reprs.
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



"""Token requests over httpx: building them from `TokenRequest` data, reading their answers with
a size cap and a typed timeout, and sending the ones made outside an API client's auth flow.

The protocol decisions live in `nb_oauth.grants` and `nb_oauth.tokens`, over plain strings and
bytes; this module and `nb_oauth.redirects` are where they meet httpx (with `nb_oauth.oauth2_auth`
and the client factories in `nb_oauth.session`).

* `DEFAULT_TIMEOUT`, the explicit timeouts of every client nb_oauth builds and of every token
  request (docs/security.md, "Network faults").
* `request_error`, which attaches the request to an error that is also an `httpx.HTTPError` (the
  errors that can surface from `client.get(...)`, declared in `nb_oauth.errors`).
* Converting `TokenRequest` data to `httpx.Request`, and reading token responses with a size cap
  and a typed timeout (docs/security.md, "Bad server input").
"""

from __future__ import annotations

import httpx

from nb_oauth import errors
from nb_oauth.bearer import origin
from nb_oauth.grants.token_requests import TokenRequest
from nb_oauth.tokens import MAX_TOKEN_RESPONSE_BYTES

__all__ = [
    "aread_token_body",
    "DEFAULT_TIMEOUT",
    "dpop_nonce_asked",
    "get_document",
    "post_json",
    "read_token_body",
    "request_error",
    "send_token_request",
    "TOKEN_REQUEST",
    "token_http_request",
]

# security.md#network-faults: connect, read, write and pool timeouts, never None.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)

# Request extensions (copied by httpx onto redirect hops) that mark nb_oauth's requests.
TOKEN_REQUEST = "nb_oauth.token_request"  # value: the token endpoint's origin


def request_error(error: errors.NbOAuthError, request: httpx.Request) -> errors.NbOAuthError:
    """`error` carrying `request` (as the caller wrote it: no token) when it is also an
    `httpx.HTTPError` (see `nb_oauth.errors`); other errors are returned unchanged."""
    if isinstance(error, httpx.HTTPError):
        error.request = request
    return error


def token_http_request(request: TokenRequest, timeout: httpx.Timeout) -> httpx.Request:
    """`request` as an `httpx.Request`, with explicit timeouts (security.md#network-faults) and
    nb_oauth's marker.

    Built directly rather than through a client, so the client's default headers and cookies
    (meant for the API) never reach the token endpoint.
    """
    headers = dict(request.headers)
    if request.dpop_key is not None:
        # RFC 9449 §5: a fresh proof for every token request, signed at the last moment.
        from nb_oauth.grants.dpop import load_dpop_key, proof

        key = load_dpop_key(request.dpop_key, datasource=request.datasource)
        headers["DPoP"] = proof(key, request.method, request.url, nonce=request.dpop_nonce)
    return httpx.Request(
        request.method,
        request.url,
        headers=headers,
        content=request.body,
        extensions={"timeout": timeout.as_dict(), TOKEN_REQUEST: origin(request.url)},
    )


def dpop_nonce_asked(request: TokenRequest, response: httpx.Response) -> str | None:
    """The nonce the token endpoint asks a DPoP `request` to use and retry with (RFC 9449 §8),
    or `None`."""
    if request.dpop_key is None:
        return None
    from nb_oauth.grants.dpop import token_endpoint_nonce

    return token_endpoint_nonce(
        response.status_code, response.headers.get("DPoP-Nonce"), response.content
    )



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
    """Read a token endpoint response (security.md#bad-server-input: refuse a declared size above
    the cap; security.md#network-faults).

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
    credentials). A DPoP request that the server answers with a nonce to use is sent again once
    with it (RFC 9449 §8); asked again, it raises `DPoPError`. Raises the
    twins of `TokenEndpointError` / `TokenEndpointTimeout`, and httpx's transport errors; never
    logs the body.
    """
    with httpx.Client(follow_redirects=False) as client:
        for attempt in (1, 2):
            response = client.send(token_http_request(request, timeout), stream=True)
            try:
                read_token_body(response)
            finally:
                response.close()
            nonce = dpop_nonce_asked(request, response)
            if nonce is None:
                break
            if attempt == 2:
                from nb_oauth.grants.dpop import nonce_loop

                raise nonce_loop(request.datasource or None)
            # RFC 9449 §8: use the nonce the server gave, once.
            request = request.with_dpop_nonce(nonce)
    return response


def post_json(
    url: str, body: object, timeout: httpx.Timeout = DEFAULT_TIMEOUT
) -> tuple[int, bytes]:
    """POST a JSON object (a dynamic client registration, RFC 7591 §3.1): status and body, with
    the same size cap as token responses; redirects are not followed."""
    request = httpx.Request(
        "POST", url, json=body, headers={"Accept": "application/json"},
        extensions={"timeout": timeout.as_dict()},
    )
    return _send_small(request)


def get_document(url: str, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> tuple[int, bytes]:
    """GET a small JSON document (authorization server metadata): status and body.

    Same size cap as token responses (security.md#bad-server-input); redirects are not followed.
    Raises httpx's transport errors and the twins of `TokenEndpointError` / `TokenEndpointTimeout`.
    """
    request = httpx.Request(
        "GET",
        url,
        headers={"Accept": "application/json"},
        extensions={"timeout": timeout.as_dict()},
    )
    return _send_small(request)


def _send_small(request: httpx.Request) -> tuple[int, bytes]:
    """Send `request` on a client of its own, without following redirects, and read at most
    the token-response size cap of its answer."""
    with httpx.Client(follow_redirects=False) as client:
        response = client.send(request, stream=True)
        try:
            read_token_body(response)
        finally:
            response.close()
    return response.status_code, response.content

"""Pushed authorization requests (RFC 9126): the parameters go to the server first, with client
authentication, and the browser gets only `client_id` and the `request_uri` it answered
(security.md#pushed-authorization-requests).

`pushed_if_needed` decides by the datasource's `par` (None: when the issuer's metadata has
`require_pushed_authorization_requests`; True: always; False: never) and returns the request to
open: unchanged, or with its `request_uri`. State, PKCE and the redirect URI are the request's own,
so the loopback catcher, the server callback and the pasted-URL path check the response as before.
"""

from __future__ import annotations

import json

import httpx

from nb_oauth.consent.request import AuthorizationRequest
from nb_oauth.errors import ConfigError, NbOAuthError, PushedAuthorizationError
from nb_oauth.grants.metadata import ServerMetadata, metadata_url, read_metadata
from nb_oauth.grants.token_requests import pushed_authorization_request
from nb_oauth.redact import redact_text
from nb_oauth.secret import Secret
from nb_oauth.token_http import get_document, send_token_request

__all__ = ["pushed_if_needed"]

_MAX_REQUEST_URI = 2048


def pushed_if_needed(
    request: AuthorizationRequest, client_secret: Secret | None
) -> AuthorizationRequest:
    """`request`, pushed first when the datasource says so (RFC 9126 §2, §4).

    Raises `ConfigError` (field `par`) when `par=True` and no endpoint is known, and
    `PushedAuthorizationError` when the endpoint refuses or answers something unusable.
    """
    ds = request.datasource
    if ds.par is False:
        return request
    metadata = _metadata(ds.issuer) if ds.issuer else None
    endpoint = ds.par_url or (metadata and metadata.pushed_authorization_request_endpoint)
    required = ds.par is True or bool(metadata and metadata.require_pushed_authorization_requests)
    if not required:
        return request
    if not endpoint:
        where = f"the metadata of {ds.issuer} names" if ds.issuer else "there is"
        raise ConfigError(
            "par",
            f"asks for pushed authorization requests, but {where} no "
            f"pushed_authorization_request_endpoint ({ds.name})",
            "give par_url, or set par=False",
        )
    response = send_token_request(
        pushed_authorization_request(ds, client_secret, endpoint, request.params)
    )
    return AuthorizationRequest(
        ds, request.redirect_uri, state=request.state, pkce=request.pkce,
        require_iss=request.require_iss, request_uri=_request_uri(ds.name, response),
        dpop_key=request.dpop_key,
    )


def _metadata(issuer: str) -> ServerMetadata | None:
    """The issuer's metadata, or `None` when it cannot be had: then `par_url` and `par` decide
    (with `par=True` and no `par_url`, the caller's `ConfigError` says what to do)."""
    try:
        status, body = get_document(metadata_url(issuer))
        if status != 200:
            return None
        return read_metadata(issuer, body, url=metadata_url(issuer), authorization_code=True)
    except (httpx.HTTPError, NbOAuthError):
        return None


def _request_uri(name: str, response: httpx.Response) -> str:
    """The `request_uri` of a PAR response (RFC 9126 §2.2: 201 with JSON `request_uri` and
    `expires_in`), or `PushedAuthorizationError`."""
    try:
        members = json.loads(response.content)
    except ValueError:
        members = None
    if not isinstance(members, dict):
        raise PushedAuthorizationError(
            "invalid_response",
            f"the endpoint answered HTTP {response.status_code} without a JSON object",
            datasource=name,
        )
    if response.status_code not in (200, 201) or "error" in members:
        error = members.get("error")
        description = members.get("error_description")
        raise PushedAuthorizationError(
            error if isinstance(error, str) else f"HTTP {response.status_code}",
            redact_text(description, limit=200) if isinstance(description, str) else None,
            datasource=name,
        )
    uri = members.get("request_uri")
    if not isinstance(uri, str) or not uri or len(uri) > _MAX_REQUEST_URI or not uri.isprintable():
        raise PushedAuthorizationError(
            "invalid_response", "the answer has no usable request_uri", datasource=name
        )
    return uri

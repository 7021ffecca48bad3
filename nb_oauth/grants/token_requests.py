"""Token requests as plain data: what to POST to the token endpoint, and what the answer means.

Each builder returns a `TokenRequest` (URL, headers, body bytes) that any HTTP library can send;
`read_token_response` turns the answer back into a `TokenSet` or a typed error. The httpx adapter
(`nb_oauth.oauth2_auth`, `nb_oauth.token_http`) is the only place that makes an `httpx.Request` out
of one, so a port to another HTTP library (httpx2) reuses all of this unchanged.

A `TokenRequest` carries credentials in `headers` and `body`; its `repr` shows only the grant and
the redacted URL, and it refuses pickling (security.md#errors-logs-and-reprs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NoReturn

from nb_oauth.datasource import Datasource
from nb_oauth.grants.client_auth import (
    JWT_METHODS,
    ClientAuthMethod,
    encode_token_request,
    jwt_client_auth,
    select_client_auth,
)
from nb_oauth.redact import redact_url
from nb_oauth.secret import Secret
from nb_oauth.tokens import TokenSet, parse_token_response

__all__ = [
    "authorization_code_request",
    "client_credentials_request",
    "DEVICE_CODE_GRANT_TYPE",
    "device_authorization_request",
    "device_code_request",
    "pushed_authorization_request",
    "read_token_response",
    "refresh_token_request",
    "revocation_request",
    "TokenRequest",
]


@dataclass(frozen=True, kw_only=True)
class TokenRequest:
    """One POST to the token endpoint (RFC 6749 §3.2), ready to send; or, with `grant` set to
    `"revocation"`, to the revocation endpoint (RFC 7009 §2.1), which authenticates the same way.

    `grant` is the `grant_type` sent; `spent` are credentials the request carries (a refresh token,
    a code), masked if the server echoes them; `requested_scopes` are what a response without a
    `scope` member grants (RFC 6749 §5.1, §6).
    """

    grant: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    requested_scopes: tuple[str, ...] = ()
    spent: tuple[Secret, ...] = field(default=(), repr=False)
    method: str = "POST"
    #: The member of the response that holds the token set (a provider quirk), if not the top.
    token_member: str | None = None
    #: The DPoP key (PEM) whose proof goes with the request (RFC 9449 §5); the tokens of the
    #: answer are bound to it and kept with it.
    dpop_key: Secret | None = field(default=None, repr=False)
    #: The nonce the server asked proofs to carry (RFC 9449 §8), if any.
    dpop_nonce: str | None = None
    #: The datasource's name, for messages.
    datasource: str = ""

    def with_dpop_nonce(self, nonce: str | None) -> TokenRequest:
        """This request with another DPoP nonce (the next proof will carry it)."""
        return dataclasses.replace(self, dpop_nonce=nonce)

    def __repr__(self) -> str:
        return f"TokenRequest(grant={self.grant!r}, url={redact_url(self.url)!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a TokenRequest holds credentials and cannot be pickled")


def _token_request(
    datasource: Datasource,
    client_secret: Secret | None,
    params: Mapping[str, str],
    *,
    requested_scopes: tuple[str, ...],
    spent: tuple[Secret, ...] = (),
    dpop_key: Secret | None = None,
) -> TokenRequest:
    # The datasource's extra parameters (`audience`, `resource`) cannot name protocol parameters:
    # Datasource validation refuses them (security.md#protocol-parameters-and-grants), and the
    # protocol values are merged last anyway.
    resource = {"resource": datasource.resource} if datasource.resource else {}
    merged = {**datasource.token_params, **resource, **params}
    return _authenticated_post(
        datasource,
        client_secret,
        datasource.token_url,
        merged,
        grant=params["grant_type"],
        encoding=datasource.body_encoding,
        requested_scopes=requested_scopes,
        spent=spent,
        dpop_key=_dpop_key(datasource, dpop_key),
    )


def _dpop_key(datasource: Datasource, current: Secret | None) -> Secret | None:
    """The key a DPoP datasource's token request proves possession of: the one its tokens are
    bound to, else a new one (its first token request, RFC 9449 §5)."""
    if not datasource.dpop:
        return None
    if current is not None:
        return current
    from nb_oauth.grants.dpop import new_dpop_key

    return new_dpop_key()


def _authenticated_post(
    datasource: Datasource,
    client_secret: Secret | None,
    url: str,
    params: Mapping[str, str],
    *,
    grant: str,
    encoding: Literal["form", "json"],
    requested_scopes: tuple[str, ...] = (),
    spent: tuple[Secret, ...] = (),
    dpop_key: Secret | None = None,
) -> TokenRequest:
    # Exactly one client authentication method per request (RFC 6749 §2.3,
    # security.md#client-authentication).
    method = _client_auth(datasource, client_secret)
    auth_headers, body_params = method(datasource.client_id, client_secret, params)
    content_type, body = encode_token_request(body_params, encoding)
    headers = {
        **auth_headers,
        "Content-Type": content_type,
        # Some providers (GitHub) answer form-encoded unless asked for JSON (RFC 6749 §5.1).
        "Accept": "application/json",
    }
    return TokenRequest(
        grant=grant,
        url=url,
        headers=headers,
        body=body,
        requested_scopes=requested_scopes,
        spent=spent,
        token_member=datasource.quirks.token_member,
        dpop_key=dpop_key,
        datasource=datasource.name,
    )


def _client_auth(datasource: Datasource, client_secret: Secret | None) -> ClientAuthMethod:
    if datasource.client_auth in JWT_METHODS:
        # RFC 7523 §3: the audience is the token endpoint, on every request that authenticates
        # (revocation and device authorization too), as one string (security.md#private-keys).
        return jwt_client_auth(
            datasource.client_auth,
            audience=datasource.token_url,
            signing_alg=datasource.signing_alg,
            key_id=datasource.key_id,
            datasource=datasource.name,
        )
    return select_client_auth(datasource.client_auth, client_secret)


def client_credentials_request(
    datasource: Datasource, client_secret: Secret | None, *, dpop_key: Secret | None = None
) -> TokenRequest:
    """The client credentials grant (RFC 6749 §4.4.2). Raises `ConfigError` without a secret.
    With `dpop=True`, the proof uses `dpop_key` (the current tokens'), else a new key."""
    params = {"grant_type": "client_credentials"}
    if datasource.scopes:
        params["scope"] = datasource.scope_string  # RFC 6749 §3.3: space-delimited
    return _token_request(
        datasource, client_secret, params, requested_scopes=tuple(datasource.scopes),
        dpop_key=dpop_key,
    )


def refresh_token_request(
    datasource: Datasource, client_secret: Secret | None, tokens: TokenSet
) -> TokenRequest:
    """Refresh with `tokens.refresh_token` (RFC 6749 §6).

    `scope` is sent only when the datasource says so (`send_scope_on_refresh`), and then as the
    scopes granted before, which §6 says it must not exceed. Raises `ValueError` when `tokens`
    has no refresh token.
    """
    if not tokens.refresh_token:
        raise ValueError("these tokens have no refresh token")
    granted = tokens.granted_scopes or tuple(datasource.scopes)
    params = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token.reveal()}
    if datasource.send_scope_on_refresh and granted:
        params["scope"] = datasource.quirks.scope_separator.join(granted)
    return _token_request(
        datasource,
        client_secret,
        params,
        requested_scopes=granted,
        spent=(tokens.refresh_token,),
        # RFC 9449 §5: a refresh proves possession of the key the refresh token is bound to.
        dpop_key=tokens.dpop_key,
    )


def authorization_code_request(
    datasource: Datasource,
    client_secret: Secret | None,
    *,
    code: Secret,
    redirect_uri: str,
    code_verifier: Secret,
    dpop_key: Secret | None = None,
) -> TokenRequest:
    """Redeem an authorization code (RFC 6749 §4.1.3) with its PKCE verifier (RFC 7636 §4.5).

    `redirect_uri` must be the one of the authorization request
    (security.md#state-pkce-and-the-redirect-uri). With DPoP, `dpop_key` is the key the
    authorization request named in `dpop_jkt` (RFC 9449 §10), else a new one.
    """
    params = {
        "grant_type": "authorization_code",
        "code": code.reveal(),
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier.reveal(),
    }
    return _token_request(
        datasource,
        client_secret,
        params,
        requested_scopes=tuple(datasource.scopes),
        spent=(code, code_verifier),
        dpop_key=dpop_key,
    )


#: RFC 8628 §3.4.
DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


def device_authorization_request(
    datasource: Datasource, client_secret: Secret | None
) -> TokenRequest:
    """Ask for a device code and a user code (RFC 8628 §3.1): the client id (or its
    authentication) and the scopes, at `datasource.device_authorization_url`. Raises
    `ValueError` when the datasource has none (discovery fills it in before)."""
    if not datasource.device_authorization_url:
        raise ValueError("this datasource has no device_authorization_url")
    # The sign-in's own parameters where the provider takes them here (Auth0's audience), then
    # the token request's: the device request stands in for both.
    auth_params = datasource.auth_params
    params = {key: auth_params[key] for key in datasource.quirks.device_auth_params
              if key in auth_params}
    params.update(datasource.token_params)
    if datasource.scopes:
        params["scope"] = datasource.scope_string
    if datasource.resource:
        params["resource"] = datasource.resource
    return _authenticated_post(
        datasource,
        client_secret,
        datasource.device_authorization_url,
        params,
        grant="device_authorization",
        encoding=datasource.body_encoding,
        requested_scopes=tuple(datasource.scopes),
    )


def device_code_request(
    datasource: Datasource, client_secret: Secret | None, device_code: Secret
) -> TokenRequest:
    """Poll the token endpoint with the device code (RFC 8628 §3.4)."""
    params = {"grant_type": DEVICE_CODE_GRANT_TYPE, "device_code": device_code.reveal()}
    return _token_request(
        datasource,
        client_secret,
        params,
        requested_scopes=tuple(datasource.scopes),
        spent=(device_code,),
    )


def revocation_request(
    datasource: Datasource, client_secret: Secret | None, token: Secret, hint: str
) -> TokenRequest:
    """Revoke `token` at `datasource.revocation_url` (RFC 7009 §2.1).

    `hint` is `refresh_token` or `access_token`. The client authenticates as at the token endpoint;
    the body is always form-encoded, as RFC 7009 §2.1 requires. Raises `ValueError` when the
    datasource has no revocation URL.
    """
    if not datasource.revocation_url:
        raise ValueError("this datasource has no revocation_url")
    return _authenticated_post(
        datasource,
        client_secret,
        datasource.revocation_url,
        {"token": token.reveal(), "token_type_hint": hint},
        grant="revocation",
        encoding="form",
        spent=(token,),
    )


def pushed_authorization_request(
    datasource: Datasource, client_secret: Secret | None, url: str, params: Mapping[str, str]
) -> TokenRequest:
    """Push the authorization request's `params` to `url` (RFC 9126 §2.1): form-encoded, with the
    client authentication of the token endpoint (a JWT assertion too, its audience the token
    endpoint, which §2 lets the server accept)."""
    return _authenticated_post(
        datasource, client_secret, url, params, grant="pushed_authorization", encoding="form"
    )


def read_token_response(
    request: TokenRequest,
    *,
    status_code: int,
    content_type: str | None,
    body: bytes,
    now: float,
    datasource: str | None = None,
) -> TokenSet:
    """The `TokenSet` a token endpoint answered to `request` (RFC 6749 §5.1), or raise.

    Raises a `TokenError` subclass for an RFC 6749 §5.2 error and `TokenEndpointError` for an
    unusable response, as `nb_oauth.tokens.parse_token_response` does; `DPoPError` when a DPoP
    request got another token type. The tokens of a DPoP request keep its key. Never logs.
    """
    tokens = parse_token_response(
        status_code=status_code,
        content_type=content_type,
        body=body,
        requested_scopes=request.requested_scopes,
        now=now,
        grant=request.grant,
        datasource=datasource,
        secrets=request.spent,
        token_member=request.token_member,
        dpop=request.dpop_key is not None,
    )
    if request.dpop_key is not None:
        tokens = dataclasses.replace(tokens, dpop_key=request.dpop_key)
    return tokens

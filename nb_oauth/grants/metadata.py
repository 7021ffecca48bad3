"""Authorization server metadata (RFC 8414, and OpenID Connect Discovery 1.0): the endpoints of
a datasource that gives only its `issuer`, and what a configured datasource cannot say itself:
whether the server always sends ``iss`` in authorization responses (RFC 9207 §3).

Pure: builds the URLs and judges the documents; the caller fetches them
(`nb_oauth.discovery`).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from nb_oauth.errors import ConfigError

__all__ = [
    "ServerMetadata",
    "metadata_url",
    "openid_configuration_url",
    "promises_iss",
    "read_metadata",
]

_WELL_KNOWN = "/.well-known/oauth-authorization-server"
_OPENID = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class ServerMetadata:
    """What nb_oauth uses of an authorization server's metadata."""

    issuer: str
    token_endpoint: str
    authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    registration_endpoint: str | None = None
    #: RFC 9207 §3: every authorization response carries ``iss``.
    iss_required: bool = False
    #: RFC 9126 §5: where authorization requests are pushed, and whether they must be.
    pushed_authorization_request_endpoint: str | None = None
    require_pushed_authorization_requests: bool = False
    #: RFC 8414 §2: the JWS algorithms client assertions may use (empty: not said).
    token_endpoint_auth_signing_alg_values_supported: tuple[str, ...] = ()
    #: RFC 9449 §5.1: the JWS algorithms DPoP proofs may use (empty: not said).
    dpop_signing_alg_values_supported: tuple[str, ...] = ()


def openid_configuration_url(issuer: str) -> str:
    """The OpenID Connect Discovery 1.0 §4 URL: the well-known path *appended* to the issuer."""
    return issuer.rstrip("/") + _OPENID


def read_metadata(
    issuer: str, body: bytes, *, url: str, authorization_code: bool,
    issuer_template: str | None = None,
) -> ServerMetadata:
    """Judge a metadata document fetched from `url` for `issuer` (RFC 8414 §3.3 and §2).

    Raises `ConfigError` (field ``issuer``), one line, for a document that is not a JSON object,
    names another issuer, lacks a token endpoint, has an endpoint that is not https (loopback
    excepted), or, for the authorization code grant, no authorization endpoint or no S256
    PKCE among `code_challenge_methods_supported` when it lists any.
    """

    def refuse(problem: str, fix: str) -> ConfigError:
        return ConfigError("issuer", f"the metadata at {url} {problem}", fix)

    try:
        document = json.loads(body)
    except ValueError:
        raise refuse("is not JSON", "check the issuer URL") from None
    if not isinstance(document, Mapping):
        raise refuse("is not a JSON object", "check the issuer URL")
    stated = document.get("issuer")
    if stated != issuer and (issuer_template is None or stated != issuer_template):
        shown = stated if isinstance(stated, str) else "no issuer"
        raise refuse(f"names {shown[:200]!r}, not {issuer!r}",
                     "set issuer exactly as the provider's metadata states it (RFC 8414 §3.3)")
    endpoints: dict[str, str | None] = {}
    for name in ("token_endpoint", "authorization_endpoint", "revocation_endpoint",
                 "device_authorization_endpoint", "registration_endpoint",
                 "pushed_authorization_request_endpoint"):
        value = document.get(name)
        if value is None:
            endpoints[name] = None
            continue
        if not isinstance(value, str) or not _secure(value):
            raise refuse(f"gives {name} that is not an https URL",
                         "the provider's metadata must use https (RFC 8414 §2)")
        endpoints[name] = value
    token = endpoints.pop("token_endpoint")
    if token is None:
        raise refuse("has no token_endpoint", "give token_url yourself")
    if authorization_code:
        if endpoints["authorization_endpoint"] is None:
            raise refuse("has no authorization_endpoint",
                         "give authorization_url yourself, or use grant='client_credentials'")
        methods = document.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise refuse("does not offer PKCE with S256",
                         "nb_oauth signs in only with S256 PKCE (RFC 9700 §2.1.1)")
    return ServerMetadata(
        issuer=issuer,
        token_endpoint=token,
        iss_required=document.get("authorization_response_iss_parameter_supported") is True,
        require_pushed_authorization_requests=(
            document.get("require_pushed_authorization_requests") is True
        ),
        token_endpoint_auth_signing_alg_values_supported=_strings(
            document.get("token_endpoint_auth_signing_alg_values_supported")
        ),
        dpop_signing_alg_values_supported=_strings(
            document.get("dpop_signing_alg_values_supported")
        ),
        **endpoints,
    )


def _strings(value: object) -> tuple[str, ...]:
    """A JSON array of strings as a tuple; anything else says nothing (empty)."""
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def _secure(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def metadata_url(issuer: str) -> str:
    """The RFC 8414 §3.1 metadata URL: the well-known path *inserted* before the issuer's path
    (``https://as/tenant`` → ``https://as/.well-known/oauth-authorization-server/tenant``)."""
    parts = urlsplit(issuer)
    # RFC 8414 §3.1: "any terminating '/' MUST be removed before inserting".
    return urlunsplit((parts.scheme, parts.netloc, _WELL_KNOWN + parts.path.rstrip("/"), "", ""))


def promises_iss(issuer: str, status_code: int, body: bytes) -> bool:
    """Does this metadata response say the server always sends ``iss`` (RFC 9207 §3)?

    A missing or unreadable document says nothing (``False``): the endpoints are configured
    explicitly, so the metadata is optional. A document for another issuer is refused with
    ``ConfigError`` (RFC 8414 §3.3: "MUST NOT be used"), naming the issuer it gave.
    """
    if status_code != 200:
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False
    if not isinstance(document, Mapping):
        return False
    stated = document.get("issuer")
    if stated != issuer:
        shown = stated if isinstance(stated, str) else "no issuer"
        raise ConfigError(
            "issuer",
            f"the metadata at {metadata_url(issuer)} names {shown[:200]!r}, not {issuer!r}",
            "set issuer exactly as the provider's metadata states it (RFC 8414 §3.3)",
        )
    return document.get("authorization_response_iss_parameter_supported") is True

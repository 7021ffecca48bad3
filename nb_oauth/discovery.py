"""Discovery when a datasource is saved without its endpoints.

* From the issuer: a datasource that gives its `issuer` and no `token_url` takes its endpoints
  from the authorization server's metadata (RFC 8414, then OpenID Connect Discovery 1.0).
* From the API: one that gives only its `base_url` first reads the API's protected resource
  metadata (RFC 9728: the well-known URL with path insertion, else the `resource_metadata` a 401
  challenge names), whose first authorization server becomes the `issuer` and whose `resource`
  the datasource's `resource` (RFC 8707), then discovers from that issuer.

security.md#checking-the-authorization-response: the metadata must name exactly the configured
issuer (or resource), use https, and offer S256 PKCE for sign-ins.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import httpx

from nb_oauth.bearer import origin, parse_challenges
from nb_oauth.datasource import Datasource, loopback_redirect_uri
from nb_oauth.errors import ConfigError, NbOAuthError, TokenEndpointError, first_line
from nb_oauth.grants.metadata import (
    ServerMetadata,
    metadata_url,
    openid_configuration_url,
    read_metadata,
)
from nb_oauth.redact import redact_text
from nb_oauth.token_http import DEFAULT_TIMEOUT, get_document, post_json

__all__ = [
    "complete",
    "discover",
    "discover_from_api",
    "needs_discovery",
    "rediscover",
    "register_client",
]

_RESOURCE_WELL_KNOWN = "/.well-known/oauth-protected-resource"


def needs_discovery(datasource: Datasource) -> bool:
    """Does `datasource` take its endpoints (and, without a client id, its registration) from
    metadata? Only when it gives no token endpoint: given endpoints are never second-guessed."""
    return not datasource.token_url and (
        datasource.issuer is not None or datasource.base_url is not None
    )


def complete(datasource: Datasource) -> Datasource:
    """`datasource` with what metadata supplies: the issuer and resource from the API's (when
    only `base_url` is given), the endpoints from the issuer's, and a client id registered at
    its registration endpoint when none is given (RFC 7591). Raises `ConfigError`, one line;
    nothing is saved then."""
    if datasource.issuer is None and datasource.base_url is not None:
        resource, issuer = discover_from_api(datasource.base_url)
        datasource = datasource.replace(issuer=issuer, resource=datasource.resource or resource)
    metadata = _issuer_metadata(datasource)
    registered: dict[str, str] = {}
    if not datasource.client_id:
        registered = {
            "client_id": register_client(datasource, metadata.registration_endpoint),
            "client_auth": "none",
        }
    return datasource.replace(
        token_url=metadata.token_endpoint,
        authorization_url=datasource.authorization_url or metadata.authorization_endpoint,
        revocation_url=datasource.revocation_url or metadata.revocation_endpoint,
        device_authorization_url=datasource.device_authorization_url
        or _device_endpoint(datasource, metadata),
        **registered,
    )


def _device_endpoint(datasource: Datasource, metadata: ServerMetadata) -> str | None:
    """The device authorization endpoint (RFC 8628 §4) a device grant datasource needs."""
    if datasource.grant == "device_code" and metadata.device_authorization_endpoint is None:
        raise ConfigError(
            "device_authorization_url",
            f"the metadata of {metadata.issuer} names no device_authorization_endpoint",
            "give device_authorization_url yourself, or use grant='authorization_code' (the "
            "provider may not offer the device grant)",
        )
    return metadata.device_authorization_endpoint


def register_client(datasource: Datasource, endpoint: str | None) -> str:
    """Register `datasource` as a native public client (RFC 7591 §3.1, RFC 8252 §8.4: loopback
    redirect URIs, no secret) and return the issued client id. Nothing secret is kept: a public
    client has no secret."""
    redirect = loopback_redirect_uri(datasource.redirect_port)
    if endpoint is None:
        raise ConfigError(
            "client_id", f"the provider of {datasource.name!r} offers no dynamic registration",
            f"register an app there with the redirect URI {redirect} and give its client_id",
        )
    request = {
        "client_name": f"nb_oauth ({datasource.name})",
        "redirect_uris": [redirect, loopback_redirect_uri(datasource.redirect_port, ipv6=True)],
        "grant_types": (
            ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
            if datasource.grant == "device_code"
            else ["authorization_code", "refresh_token"]
        ),
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    status, body = _post("client_id", endpoint, request)
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    client_id = answer.get("client_id")
    if status not in (200, 201) or not isinstance(client_id, str) or not client_id:
        error = answer.get("error_description") or answer.get("error") or f"HTTP {status}"
        raise ConfigError(
            "client_id", f"the registration endpoint {endpoint} refused to register "
            f"{datasource.name!r} ({redact_text(str(error), limit=200)})",
            "register an app at the provider yourself and give its client_id",
        )
    return client_id


def _post(field_name: str, url: str, body: object) -> tuple[int, bytes]:
    try:
        return post_json(url, body)
    except (httpx.HTTPError, NbOAuthError) as exc:
        raise ConfigError(field_name, f"{url} could not be reached ({_problem(exc)})",
                          "check that the server is up, or give client_id yourself") from None


def resource_metadata_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known path inserted before the resource's path."""
    parts = urlsplit(resource)
    return urlunsplit(
        (parts.scheme, parts.netloc, _RESOURCE_WELL_KNOWN + parts.path.rstrip("/"), "", "")
    )


def discover_from_api(base_url: str) -> tuple[str, str]:
    """(resource, issuer) from the API's protected resource metadata (RFC 9728).

    Raises `ConfigError` (field ``base_url``, one line) when the API publishes none, or one for
    another resource, or one without an authorization server.
    """
    url = resource_metadata_url(base_url)
    status, body = _fetch("base_url", url)
    if status != 200:
        named = _challenged_metadata_url(base_url)
        if named is None:
            raise ConfigError(
                "base_url", f"the API publishes no protected resource metadata at {url} "
                f"(HTTP {status}) and names none in a 401",
                "give token_url and authorization_url, or the issuer, or a provider preset",
            )
        url = named
        status, body = _fetch("base_url", url)
        if status != 200:
            raise ConfigError("base_url", f"the metadata at {url} answered HTTP {status}",
                              "give the issuer or the endpoints yourself")
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ConfigError("base_url", f"the metadata at {url} is not a JSON object",
                          "give the issuer or the endpoints yourself")
    resource = document.get("resource")
    if not isinstance(resource, str) or resource.rstrip("/") != base_url.rstrip("/"):
        shown = resource if isinstance(resource, str) else "no resource"
        raise ConfigError(
            "base_url", f"the metadata at {url} is for {shown[:200]!r}, not {base_url!r}",
            "set base_url to the API's resource identifier (RFC 9728 §3.3)",
        )
    servers = document.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        raise ConfigError("base_url", f"the metadata at {url} names no authorization server",
                          "give the issuer or the endpoints yourself")
    return resource, servers[0]


def _challenged_metadata_url(base_url: str) -> str | None:
    """The `resource_metadata` URL a 401 from the API names (RFC 9728 §5.1), if any."""
    try:
        response = httpx.get(base_url, timeout=DEFAULT_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError:
        return None
    if response.status_code != 401:
        return None
    for challenge in parse_challenges(response.headers.get_list("WWW-Authenticate")):
        named = challenge.params.get("resource_metadata")
        if named and origin(named):
            return named
    return None


def _fetch(field_name: str, url: str) -> tuple[int, bytes]:
    try:
        return get_document(url)
    except (httpx.HTTPError, NbOAuthError) as exc:
        raise ConfigError(
            field_name, f"the metadata at {url} could not be read ({_problem(exc)})",
            "check the URL and that the server is up, or give token_url",
        ) from None


def _problem(exc: Exception) -> str:
    """What went wrong fetching a document, in a few words for a one-line message."""
    if isinstance(exc, TokenEndpointError):
        return exc.reason  # the size cap: the body is larger than ...
    if isinstance(exc, NbOAuthError):
        return first_line(exc)
    return f"{type(exc).__name__}: {exc}"


def discover(
    issuer: str, *, authorization_code: bool, issuer_template: str | None = None
) -> ServerMetadata:
    """Fetch and check `issuer`'s metadata: RFC 8414 first, then OpenID Connect Discovery.

    Raises `ConfigError` (one line, naming the URL) when neither answers with usable metadata.
    """
    tried: list[str] = []
    for url in dict.fromkeys((metadata_url(issuer), openid_configuration_url(issuer))):
        status, body = _fetch("issuer", url)
        if status == 200:
            return read_metadata(issuer, body, url=url, authorization_code=authorization_code,
                                 issuer_template=issuer_template)
        tried.append(f"{url} (HTTP {status})")
    raise ConfigError(
        "issuer", f"no metadata was found at {' or '.join(tried)}",
        "check the issuer URL, or give token_url and authorization_url yourself",
    )


def _issuer_metadata(datasource: Datasource) -> ServerMetadata:
    if datasource.issuer is None:
        raise ConfigError("issuer", f"{datasource.name!r} has no issuer to discover from",
                          "set issuer to the authorization server's issuer URL")
    return discover(
        datasource.issuer, authorization_code=datasource.grant == "authorization_code",
        issuer_template=datasource.quirks.issuer_template,
    )


def rediscover(datasource: Datasource) -> Datasource:
    """`datasource` with every endpoint its issuer's metadata gives now (`%datasource
    discover`): the metadata is the authority for them."""
    metadata = _issuer_metadata(datasource)
    return datasource.replace(
        token_url=metadata.token_endpoint,
        authorization_url=metadata.authorization_endpoint or datasource.authorization_url,
        revocation_url=metadata.revocation_endpoint or datasource.revocation_url,
        device_authorization_url=_device_endpoint(datasource, metadata)
        or datasource.device_authorization_url,
    )

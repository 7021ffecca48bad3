"""Discovery from the issuer: a datasource that gives its `issuer` and no `token_url` takes its
endpoints from the authorization server's metadata, fetched when it is saved (RFC 8414, then
OpenID Connect Discovery 1.0). security.md#checking-the-authorization-response: the metadata
must name exactly the configured issuer, use https, and offer S256 PKCE for sign-ins.
"""

from __future__ import annotations

import httpx

from nb_oauth.datasource import Datasource
from nb_oauth.errors import ConfigError, NbOAuthError, TokenEndpointError, first_line
from nb_oauth.grants.metadata import (
    ServerMetadata,
    metadata_url,
    openid_configuration_url,
    read_metadata,
)
from nb_oauth.token_http import get_document

__all__ = ["discover", "needs_discovery", "with_discovered_endpoints"]


def needs_discovery(datasource: Datasource) -> bool:
    """Does `datasource` take its endpoints from its issuer's metadata?"""
    return datasource.issuer is not None and not datasource.token_url


def discover(issuer: str, *, authorization_code: bool) -> ServerMetadata:
    """Fetch and check `issuer`'s metadata: RFC 8414 first, then OpenID Connect Discovery.

    Raises `ConfigError` (one line, naming the URL) when neither answers with usable metadata.
    """
    tried: list[str] = []
    for url in dict.fromkeys((metadata_url(issuer), openid_configuration_url(issuer))):
        try:
            status, body = get_document(url)
        except (httpx.HTTPError, NbOAuthError) as exc:
            if isinstance(exc, TokenEndpointError):
                problem = exc.reason  # the size cap: the body is larger than ...
            elif isinstance(exc, NbOAuthError):
                problem = first_line(exc)
            else:
                problem = f"{type(exc).__name__}: {exc}"
            raise ConfigError(
                "issuer", f"the metadata at {url} could not be read ({problem})",
                "check that the issuer URL is right and the server is up, or give token_url",
            ) from None
        if status == 200:
            return read_metadata(issuer, body, url=url, authorization_code=authorization_code)
        tried.append(f"{url} (HTTP {status})")
    raise ConfigError(
        "issuer", f"no metadata was found at {' or '.join(tried)}",
        "check the issuer URL, or give token_url and authorization_url yourself",
    )


def with_discovered_endpoints(datasource: Datasource, *, refresh: bool = False) -> Datasource:
    """`datasource` with the endpoints its issuer's metadata gives: where it gives none, or all
    of them with `refresh=True` (`%datasource discover`)."""
    if datasource.issuer is None:
        raise ConfigError("issuer", f"{datasource.name!r} has no issuer to discover from",
                          "set issuer to the authorization server's issuer URL")
    metadata = discover(
        datasource.issuer, authorization_code=datasource.grant == "authorization_code"
    )
    keep = not refresh
    return datasource.replace(
        token_url=metadata.token_endpoint,
        authorization_url=(keep and datasource.authorization_url)
        or metadata.authorization_endpoint,
        revocation_url=(keep and datasource.revocation_url) or metadata.revocation_endpoint,
    )

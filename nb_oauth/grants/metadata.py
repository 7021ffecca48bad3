"""Authorization server metadata (RFC 8414), used for what a configured datasource cannot say
itself: whether the server always sends ``iss`` in authorization responses (RFC 9207 §3).

Pure: builds the URL and judges the document; the caller fetches it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from nb_oauth.errors import ConfigError

__all__ = ["metadata_url", "promises_iss"]

_WELL_KNOWN = "/.well-known/oauth-authorization-server"


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

"""Using a bearer token at a resource server (RFC 6750), as pure decisions over plain data.

* `origin` and `is_resource_origin`: may this URL receive the datasource's token
  (security.md#where-the-token-goes)?
* `parse_challenges`: a tolerant `WWW-Authenticate` parser (RFC 9110 §11.6.1,
  security.md#bad-server-input) that never raises, whatever the server sends.
* `classify`: what an API response means for the token: pass it through, renew the token once
  (401, RFC 6750 §3.1 `invalid_token`), or stop because the scope is too small (403
  `insufficient_scope`, which a new token would not fix).

Nothing here imports an HTTP library; the httpx adapter (`nb_oauth.oauth2_auth`) feeds in strings.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

__all__ = ["Challenge", "classify", "is_resource_origin", "origin", "parse_challenges", "Verdict"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 9110 §5.6.2
# One step of a challenge list: `name=value` (token or quoted string), or an auth scheme with an
# optional token68 (RFC 9110 §11.2). Anything else is skipped one character at a time.
_PARAM = re.compile(rf'\s*(?P<name>{_TOKEN})\s*=\s*(?P<value>"(?:[^"\\]|\\.)*"?|[^,\s]*)\s*,?')
_SCHEME = re.compile(
    rf"\s*(?P<scheme>{_TOKEN})(?:\s+(?P<token68>[A-Za-z0-9._~+/-]+=*)(?=\s*(?:,|$)))?\s*,?"
)
_QUOTED_PAIR = re.compile(r"\\(.)")
_MAX_HEADER = 8192


def origin(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL, lower-cased with the default port filled in.

    Returns `None` for anything else (no host, another scheme, an unparsable URL); never raises.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname  # urlsplit lower-cases it
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


def is_resource_origin(url: str, origins: Iterable[str]) -> bool:
    """True when `url` is on one of the datasource's resource origins (RFC 6750 §5.3,
    security.md#where-the-token-goes)."""
    found = origin(url)
    return found is not None and found in set(origins)


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: its scheme (lower-cased) and parameters (names
    lower-cased, values unquoted)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def parse_challenges(values: Iterable[str]) -> tuple[Challenge, ...]:
    """Parse `WWW-Authenticate` header values into challenges (RFC 9110 §11.6.1).

    Tolerant (security.md#bad-server-input): several challenges per header and several headers, any
    case, quoted or bare values, stray commas and garbage. Never raises; an unreadable header yields
    what could be read. Header values may carry server text: callers must not log them.
    """
    challenges: list[tuple[str, dict[str, str]]] = []
    for value in values:
        text, position = value[:_MAX_HEADER], 0
        while position < len(text):
            param = _PARAM.match(text, position)
            if param and challenges:
                challenges[-1][1].setdefault(param["name"].lower(), _unquote(param["value"]))
                position = param.end()
                continue
            scheme = _SCHEME.match(text, position)
            if scheme and scheme.end() > position:
                challenges.append((scheme["scheme"].lower(), {}))
                position = scheme.end()
                continue
            position += 1
    return tuple(Challenge(scheme, MappingProxyType(params)) for scheme, params in challenges)


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return _QUOTED_PAIR.sub(r"\1", value[1:].removesuffix('"'))
    return value


class Verdict(enum.Enum):
    """What an API response means for the access token."""

    PASS = "pass"  # hand the response to the caller unchanged (security.md#bad-server-input)
    RENEW = "renew"  # renew the token once and replay the request once (security.md#renewal)
    INSUFFICIENT_SCOPE = "insufficient_scope"  # a new token would not help (RFC 6750 §3.1)


def classify(
    status_code: int, www_authenticate: Iterable[str], schemes: Iterable[str] = ("bearer",)
) -> Verdict:
    """Decide what a response means (RFC 6750 §3, §3.1; security.md#renewal, #bad-server-input).

    `schemes` are the challenge schemes that speak about our token: `bearer` and the datasource's
    header prefix. A 401 renews unless a bearer challenge names an error other than
    `invalid_token` (a 401 without an `error` parameter is treated like `invalid_token`); a 403 with
    `error="insufficient_scope"` is `INSUFFICIENT_SCOPE`; everything else passes. Never raises.
    """
    if status_code not in (401, 403):
        return Verdict.PASS
    wanted = {scheme.lower() for scheme in schemes}
    errors = {
        challenge.params.get("error")
        for challenge in parse_challenges(www_authenticate)
        if challenge.scheme in wanted
    } - {None}
    if status_code == 401:
        return Verdict.RENEW if not errors or "invalid_token" in errors else Verdict.PASS
    return Verdict.INSUFFICIENT_SCOPE if "insufficient_scope" in errors else Verdict.PASS

"""Redaction of secrets in text that may reach a log, an exception or a notebook output.

Two helpers, both pure and total (they never raise on odd input):

* `redact_url` masks the values of sensitive query parameters and the userinfo password of a URL;
  the httpx log filter and every error message that names a URL use it
  (security.md#errors-logs-and-reprs).
* `redact_text` turns an untrusted server body or `error_description` into a short, single-line,
  plain-text excerpt with anything that looks like a credential replaced by `***`
  (security.md#errors-logs-and-reprs, #bad-server-input).

Redaction is deliberately greedy: masking a harmless value costs a little debugging comfort,
leaking a token costs a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = ["MASK", "redact_text", "redact_url", "SENSITIVE_PARAMS"]

MASK = "***"

# Parameter names whose values are credentials or bind a flow: RFC 6749 §4.1.2 (code, state),
# §5.1 (access_token, refresh_token), §2.3.1 (client_secret), RFC 7636 §4.5 (code_verifier),
# RFC 7521 §4.2 (client_assertion, assertion), RFC 8628 §3.2 (device_code), OIDC (id_token),
# RFC 8693 §2.1 (subject_token, actor_token) and RFC 6749 §4.3.2 (password, never sent by us).
SENSITIVE_PARAMS = frozenset(
    {
        "access_token",
        "actor_token",
        "assertion",
        "client_assertion",
        "client_secret",
        "code",
        "code_verifier",
        "device_code",
        "id_token",
        "password",
        "refresh_token",
        "state",
        "subject_token",
    }
)

_KEYS = "|".join(sorted(SENSITIVE_PARAMS, key=len, reverse=True))
# "key": "value" / 'key': 'value' / "key": 5 (JSON and Python reprs; an unterminated string is
# masked to the end, so a truncated body cannot leak half a token).
_QUOTED_KEY_VALUE = re.compile(
    rf"""(?P<key>(?P<q>["'])(?:{_KEYS})(?P=q)\s*:\s*)"""
    r"""(?:"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^\s,}\]]+)""",
    re.IGNORECASE,
)
# key=value (form bodies, query strings, log lines); `\b` keeps `error_code=` intact.
_BARE_KEY_VALUE = re.compile(rf"(?P<key>\b(?:{_KEYS})\s*=\s*)[^\s&;,\"'<>]+", re.IGNORECASE)
# RFC 7617 / RFC 6750 §2.1 credentials and JWTs (RFC 7519) wherever they appear.
_AUTH_SCHEME_CREDENTIAL = re.compile(
    r"\b(?P<scheme>Bearer|Basic|DPoP)\s+(?P<credential>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Long runs of token characters with letters and digits: opaque tokens with an unknown label.
_LONG_RANDOM = re.compile(r"[A-Za-z0-9_~+/=.-]{32,}")
_HTML_TAG = re.compile(r"<[A-Za-z/!][^<>]*>")
_WHITESPACE = re.compile(r"\s+")

# Only this much of a body is scanned; the excerpt is far shorter anyway (bounded regex work).
_SCAN_LIMIT = 4096


def redact_text(text: str, *, limit: int = 200, secrets: Iterable[str] = ()) -> str:
    """Return a single-line, plain-text excerpt of `text` of at most `limit` characters.

    Known secret values in `secrets` are replaced first, then values of sensitive keys (JSON or
    form style), `Bearer`/`Basic` credentials and JWTs; HTML tags and control characters are
    removed so the result is safe to put in an exception message. Never raises.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = text[:_SCAN_LIMIT]
    text = _QUOTED_KEY_VALUE.sub(rf'\g<key>"{MASK}"', text)
    text = _BARE_KEY_VALUE.sub(rf"\g<key>{MASK}", text)
    text = _AUTH_SCHEME_CREDENTIAL.sub(_mask_credential, text)
    text = _JWT.sub(MASK, text)
    text = _LONG_RANDOM.sub(_mask_random, text)
    text = _HTML_TAG.sub(" ", text)
    # Control, format (bidi overrides) and separator characters become spaces: one plain line.
    text = "".join(char if char.isprintable() else " " for char in text)
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + "…"
    return text


def _mask_credential(match: re.Match[str]) -> str:
    # "Basic authentication failed" is prose; "Bearer 2YotnFZFEjr1zCsicMWpAA" is a credential.
    credential = match["credential"]
    if len(credential) >= 20 or not credential.isalpha():
        return f"{match['scheme']} {MASK}"
    return match[0]


def _mask_random(match: re.Match[str]) -> str:
    word = match[0]
    random = any(char.isdigit() for char in word) and any(char.isalpha() for char in word)
    return MASK if random else word


def _redact_query(query: str, sensitive: frozenset[str]) -> str:
    pieces = []
    for piece in query.split("&"):
        name, sep, _value = piece.partition("=")
        if sep and unquote_plus(name).strip().lower() in sensitive:
            piece = f"{name}={MASK}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_url(url: str, extra_params: Iterable[str] = ()) -> str:
    """Return `url` with sensitive query/fragment values and any userinfo password masked.

    `extra_params` adds names such as a datasource's configured `query_param`. The rest of the
    URL is kept byte for byte, so the result is still useful for debugging. Never raises: an
    unparsable URL is masked with `redact_text` rules instead.
    """
    sensitive = SENSITIVE_PARAMS | {name.lower() for name in extra_params}
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            # RFC 3986 §3.2.1: "user:password" in userinfo is deprecated and always secret.
            userinfo, _, hostport = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}"
        # The fragment too: implicit-flow style redirects carry tokens there (RFC 6749 §4.2.2).
        return urlunsplit(
            parts._replace(
                netloc=netloc,
                query=_redact_query(parts.query, sensitive),
                fragment=_redact_query(parts.fragment, sensitive),
            )
        )
    except ValueError:
        return _redact_unparsable(url)


def _redact_unparsable(url: str) -> str:
    # Keep only what precedes userinfo, query and fragment; all of those may hold credentials.
    head = re.split(r"[?#]", url, maxsplit=1)[0]
    scheme, sep, rest = head.rpartition("//")
    if "@" in rest:
        rest = f"{MASK}@{rest.rpartition('@')[2]}"
    suffix = "" if head == url else f"{url[len(head)]}{MASK}"
    return f"{scheme}{sep}{rest}{suffix}"

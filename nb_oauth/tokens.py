"""`TokenSet` and the pure parser of token endpoint responses (RFC 6749 §5.1 and §5.2).

The parser takes the status, Content-Type and body bytes and either returns a complete `TokenSet`
or raises; it never returns a half-parsed result, so nothing half-valid can be stored
(security.md#bad-server-input). Time is a plain `now` argument from the caller's injected clock:
expiry is computed from local receipt time, never from the server's `Date`
(security.md#reading-token-responses).
"""

from __future__ import annotations

import dataclasses
import json
import re
import reprlib
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol
from urllib.parse import parse_qsl

from nb_oauth.errors import (
    DPoPError,
    NbOAuthWarning,
    TokenEndpointError,
    token_error_from_response,
)
from nb_oauth.redact import redact_text
from nb_oauth.secret import Secret

__all__ = ["human_duration", "MAX_TOKEN_RESPONSE_BYTES", "parse_token_response", "TokenSet"]

# security.md#bad-server-input: the token, metadata and device endpoints never need more; the
# adapter also stops reading.
MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024
_MAX_EXPIRES_IN = 365 * 24 * 3600  # security.md#reading-token-responses: more than a year is
# absurd, not "long-lived"
_SECRET_JSON_VERSION = 1
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")  # RFC 6749 Appendix A.12, minus space
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # ASCII digits only: float() also reads "٣٦٠٠"
_SCOPE_SEPARATORS = re.compile(r"[\s,]+")
# RFC 6749 §5.1: "The value is case insensitive"; §7.1: a client MUST NOT use an access token whose
# type it does not understand. nb_oauth understands Bearer (RFC 6750) only.
_TOKEN_TYPES = {"bearer": "Bearer"}


class _Fail(Protocol):
    def __call__(self, reason: str, snippet: str = "") -> NoReturn: ...


@dataclass(frozen=True, kw_only=True)
class TokenSet:
    """The tokens from one token response. Immutable; never printed, pickled or logged with values.

    `expires_at` and `obtained_at` are absolute times on the caller's clock; `expires_at is None`
    means the server did not say (RFC 6749 §5.1 `expires_in` is only RECOMMENDED).
    """

    access_token: Secret = field(repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_token: Secret | None = field(default=None, repr=False)
    granted_scopes: tuple[str, ...] = ()
    obtained_at: float
    #: The DPoP private key (PEM) the tokens are bound to (RFC 9449), kept with them: a
    #: DPoP-bound refresh token is worthless without it (security.md#dpop).
    dpop_key: Secret | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # A plain str here would be printed by every repr and traceback; refuse it early.
        if not isinstance(self.access_token, Secret) or not all(
            value is None or isinstance(value, Secret)
            for value in (self.refresh_token, self.dpop_key)
        ):
            raise TypeError("TokenSet tokens must be wrapped in nb_oauth.secret.Secret")

    def expires_in(self, now: float) -> float | None:
        """Seconds until expiry (negative once expired), or `None` when the expiry is unknown."""
        return None if self.expires_at is None else self.expires_at - now

    def is_expired(self, now: float, leeway: float = 60.0) -> bool:
        """True when the token should be refreshed before use (security.md#renewal).

        That is `leeway` seconds before expiry, but never earlier than half the token's lifetime,
        so that a 5-minute token is not refreshed on every call. An unknown expiry is never
        proactively expired: the API's 401 tells (security.md#reading-token-responses).
        """
        if self.expires_at is None:
            return False
        lifetime = max(self.expires_at - self.obtained_at, 0.0)
        return now >= self.expires_at - min(leeway, lifetime / 2)

    def with_refresh(self, new: TokenSet) -> TokenSet:
        """The token set after a refresh answered with `new` (RFC 6749 §6,
        security.md#reading-token-responses).

        A refresh response without a `refresh_token` keeps the current one; a new one replaces it.
        """
        if new.refresh_token:
            return new
        return dataclasses.replace(new, refresh_token=self.refresh_token)

    def to_secret_json(self) -> Secret:
        """The versioned JSON form for the keyring, as a `Secret` because it holds the tokens."""
        data = {
            "v": _SECRET_JSON_VERSION,
            "access_token": self.access_token.reveal(),
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token.reveal() if self.refresh_token else None,
            "granted_scopes": list(self.granted_scopes),
            "obtained_at": self.obtained_at,
        }
        if self.dpop_key is not None:
            data["dpop_key"] = self.dpop_key.reveal()
        return Secret(json.dumps(data, separators=(",", ":")))

    @classmethod
    def from_secret_json(cls, stored: Secret | str) -> TokenSet:
        """Read `to_secret_json()` output.

        Raises `ValueError`, never echoing the data, for a corrupt entry or an unknown version.
        """
        text = stored.reveal() if isinstance(stored, Secret) else stored
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise ValueError("the stored token entry is not valid JSON") from None
        if not isinstance(data, dict) or data.get("v") != _SECRET_JSON_VERSION:
            version = data.get("v") if isinstance(data, dict) else None
            raise ValueError(f"the stored token entry has unsupported format version {version!r}")
        try:
            refresh = data["refresh_token"]
            scopes = data["granted_scopes"]
            dpop_key = data.get("dpop_key")
            token_set = cls(
                access_token=Secret(data["access_token"]),
                token_type=_exact(data["token_type"], str),
                expires_at=None if data["expires_at"] is None else _number(data["expires_at"]),
                refresh_token=None if refresh is None else Secret(refresh),
                granted_scopes=tuple(_exact(scope, str) for scope in _exact(scopes, list)),
                obtained_at=_number(data["obtained_at"]),
                dpop_key=None if dpop_key is None else Secret(_exact(dpop_key, str)),
            )
        except (KeyError, TypeError):
            raise ValueError("the stored token entry is incomplete or malformed") from None
        return token_set

    def __repr__(self) -> str:
        refresh = "Secret('***')" if self.refresh_token else repr(self.refresh_token)
        return (
            f"TokenSet(access_token=Secret('***'), token_type={self.token_type!r}, "
            f"expires_at={self.expires_at!r}, refresh_token={refresh}, "
            f"granted_scopes={self.granted_scopes!r}, obtained_at={self.obtained_at!r}"
            + (", dpop_key=Secret('***'))" if self.dpop_key else ")")
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("a TokenSet holds secrets and cannot be pickled")

    def __copy__(self) -> TokenSet:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenSet:
        return self


def _exact(value: Any, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError
    return value


def _number(value: object) -> float:
    return float(_exact(value, (int, float)))


def parse_token_response(
    *,
    status_code: int,
    content_type: str | None,
    body: bytes,
    requested_scopes: Sequence[str],
    now: float,
    grant: str,
    strict_token_type: bool = False,
    datasource: str | None = None,
    secrets: Iterable[Secret] = (),
    token_member: str | None = None,
    dpop: bool = False,
) -> TokenSet:
    """Turn a token endpoint response into a `TokenSet`, or raise.

    `token_member` names the member that holds the token set for providers that nest it (Slack's
    `authed_user`); its token is sent as Bearer whatever `token_type` it gives.

    `grant` is the grant the request used (`authorization_code`, `refresh_token`,
    `client_credentials`). For a refresh, pass the previously granted scopes as `requested_scopes`
    (RFC 6749 §6). `secrets` are credentials the request carried (a code, a refresh token); they
    are masked if the server echoes them. `datasource` names the reconnect call in errors.
    `dpop`: the request carried a DPoP proof, so only `token_type` DPoP is accepted (RFC 9449 §5;
    `DPoPError` otherwise: no silent downgrade to Bearer).

    Raises a `TokenError` subclass for an RFC 6749 §5.2 error (security.md#token-errors) and
    `TokenEndpointError` for anything that is not a usable OAuth response
    (security.md#reading-token-responses, #bad-server-input). Warns with `NbOAuthWarning` about a
    missing `token_type` or an unusable `expires_in`. Never logs.
    """
    revealed = [secret.reveal() for secret in secrets]

    def fail(reason: str, snippet: str = "") -> NoReturn:
        raise TokenEndpointError(
            reason, status_code=status_code, content_type=content_type, snippet=snippet
        )

    members = _decode(body, content_type, fail, revealed)
    # RFC 6749 §5.2; some servers (GitHub) send the error with a 200.
    if members.get("error") is not None:
        if not isinstance(members["error"], str):
            fail("the 'error' member is not an RFC 6749 §5.2 error code", _names(members))
        raise token_error_from_response(
            status_code, members, datasource=datasource, secrets=revealed
        )
    if not 200 <= status_code < 300:
        fail("an HTTP error without an OAuth error code", _names(members))
    if members.get("ok") is False:
        # Slack answers every call with {"ok": ...}; false with no "error" is still a failure.
        fail("the response says ok: false", _names(members))
    if token_member is not None:
        nested = members.get(token_member)
        if isinstance(nested, dict):
            members = dict(nested)
        elif "access_token" not in members:
            fail(f"there is no {token_member} object", _names(members))
        # The provider's own token_type ("user") names the kind of token, not the scheme.
        members = {**members, "token_type": "Bearer"}
    access_token = members.get("access_token")
    if "access_token" not in members:
        fail("there is no access_token", _names(members))
    if not isinstance(access_token, str) or not access_token:
        fail(f"access_token is {_kind(access_token)}, not a token string", _names(members))
    if not _VISIBLE_ASCII.fullmatch(access_token):
        fail("access_token has characters that cannot be sent in a header")
    refresh_token = None if grant == "client_credentials" else members.get("refresh_token")
    if refresh_token == "":
        refresh_token = None  # some servers send "" for "no refresh token"
    if refresh_token is not None and not (
        isinstance(refresh_token, str) and _VISIBLE_ASCII.fullmatch(refresh_token)
    ):
        fail(f"refresh_token is {_kind(refresh_token)}, not a token string", _names(members))
    if dpop:
        token_type = _dpop_token_type(members.get("token_type"), datasource)
    else:
        token_type = _token_type(members.get("token_type"), strict_token_type, fail)
    expires_in = _expires_in(members.get("expires_in"))
    if expires_in is None and "expires_in" not in members:
        # Some providers (Strava) also or only give the absolute expiry, in epoch seconds.
        expires_in = _expires_in(_seconds_until(members.get("expires_at"), now))
    return TokenSet(
        access_token=Secret(access_token),
        token_type=token_type,
        expires_at=None if expires_in is None else now + expires_in,
        # security.md#renewal: RFC 6749 §4.4.3 says a client credentials response SHOULD NOT carry
        # one; if it does, it is ignored and never stored.
        refresh_token=Secret(refresh_token) if refresh_token else None,
        granted_scopes=_granted_scopes(members.get("scope"), requested_scopes),
        obtained_at=now,
    )


def _decode(
    body: bytes, content_type: str | None, fail: _Fail, secrets: Sequence[str]
) -> dict[str, object]:
    if len(body) > MAX_TOKEN_RESPONSE_BYTES:
        fail(f"the body is larger than {MAX_TOKEN_RESPONSE_BYTES} bytes")
    text = body.decode("utf-8", errors="replace")
    if not text.strip():
        fail("the body is empty")
    media_type = (content_type or "").partition(";")[0].strip().lower()
    form = media_type == "application/x-www-form-urlencoded"
    try:
        if form:
            # Legacy providers (oauthlib's fallback), only when the Content-Type says so
            # (security.md#bad-server-input).
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
            members: object = _unique_members(pairs)
        else:
            # RFC 6749 §5.1 says application/json, but JSON under a wrong label is still JSON.
            members = json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_unique_members)
    except _DuplicateMember:
        fail("a member appears twice (RFC 6749 §3.1)")
    except (ValueError, RecursionError):
        if media_type == "text/html" or text.lstrip().startswith("<"):
            reason = "an HTML page, not a token response"
        else:
            reason = "the form-encoded body is malformed" if form else "the body is not JSON"
        fail(reason, redact_text(text, secrets=secrets))
    if not isinstance(members, dict):
        # No excerpt: a bare JSON string or list may well be a token.
        fail(f"the JSON is {_kind(members)}, not an object")
    return members


class _DuplicateMember(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _DuplicateMember
    return members


def _names(members: dict[str, object]) -> str:
    # A JSON body is described by its member names only: values of unexpected members
    # (`accessToken`, `token`) may be credentials that no key-based redaction knows about.
    names = ", ".join(sorted(redact_text(name, limit=40) for name in members))
    return f"members: {names}" if names else "an empty object"


def _kind(value: object) -> str:
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}  # fmt: skip
    return "an empty string" if value == "" else kinds.get(type(value), type(value).__name__)


def _token_type(value: object, strict: bool, fail: _Fail) -> str:
    if value is None:
        if strict:
            fail("token_type is missing (RFC 6749 §5.1)")
        # One-time: the warnings module shows a given message once per location by default.
        warnings.warn(
            "The token response has no token_type; assuming Bearer (RFC 6749 §5.1 requires it). "
            "Pass strict_token_type=True to refuse such responses.",
            NbOAuthWarning,
            stacklevel=3,
        )
        return "Bearer"
    if not isinstance(value, str) or value.lower() not in _TOKEN_TYPES:
        shown = redact_text(value, limit=30) if isinstance(value, str) else _kind(value)
        fail(f"token_type {shown!r} is not supported; only Bearer can be used (RFC 6749 §7.1)")
    return _TOKEN_TYPES[value.lower()]


def _dpop_token_type(value: object, datasource: str | None) -> str:
    if isinstance(value, str) and value.lower() == "dpop":
        return "DPoP"
    shown = redact_text(value, limit=30) if isinstance(value, str) else "none"
    raise DPoPError(
        f"the authorization server answered token_type {shown!r}, not DPoP, so it does not bind "
        "tokens to the key (RFC 9449 §5)",
        "set dpop=False if this server does not support DPoP, or ask its administrators to "
        "enable it",
        datasource=datasource,
    )


def _expires_in(value: object) -> float | None:
    if value is None:
        return None  # RFC 6749 §5.1: optional; expiry unknown, the API's 401 tells
        # (security.md#reading-token-responses)
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value  # an int beyond float range must not reach float(): OverflowError
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value)
    if number is not None and 0 < number <= _MAX_EXPIRES_IN:  # NaN fails both comparisons
        return float(number)
    warnings.warn(
        f"Ignoring expires_in={redact_text(reprlib.repr(value), limit=40)} in the token response "
        "(not a positive number of seconds up to one year); the expiry is treated as unknown.",
        NbOAuthWarning,
        stacklevel=3,
    )
    return None


def _seconds_until(expires_at: object, now: float) -> object:
    """`expires_at` (epoch seconds) as seconds from `now`, for `_expires_in`'s checks; `None`
    when absent. A number is never a date string: anything else is passed on to be refused."""
    if expires_at is None:
        return None
    if isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool):
        return expires_at - now
    return expires_at


def _granted_scopes(value: object, requested: Sequence[str]) -> tuple[str, ...]:
    # RFC 6749 §5.1/§3.3: `scope` is present when the grant differs from the request. Commas
    # are split too, because some providers (GitHub) comma-separate.
    if isinstance(value, str) and value.strip():
        scopes = [scope for scope in _SCOPE_SEPARATORS.split(value) if scope]
    elif isinstance(value, list) and value and all(isinstance(s, str) for s in value):
        scopes = list(value)
    else:
        scopes = list(requested)
    return tuple(dict.fromkeys(scopes))


def human_duration(seconds: float) -> str:
    """A token lifetime for people: ``45 s``, ``10 min``, ``2.5 h``."""
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{round(seconds / 60)} min"
    return f"{max(0, round(seconds))} s"

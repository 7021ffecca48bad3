"""The device authorization response (RFC 8628 §3.2), judged before anything is shown.

The user code and the verification URI are shown to the user; the device code is a credential
(it is what the token endpoint trades for tokens), so it is kept in a `Secret`. A response that
cannot be used is refused in one line before the user is asked to type anything
(security.md#device-grant).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from nb_oauth.errors import TokenEndpointError, token_error_from_response
from nb_oauth.redact import redact_text
from nb_oauth.secret import Secret

__all__ = [
    "DEFAULT_INTERVAL_S",
    "DeviceAuthorization",
    "MAX_INTERVAL_S",
    "read_device_authorization",
]

#: RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
DEFAULT_INTERVAL_S = 5.0
#: An interval longer than this is not a polling interval but a broken server: refused.
MAX_INTERVAL_S = 300.0
#: §3.5: a slow_down adds 5 seconds to the interval, for this and all later requests.
SLOW_DOWN_S = 5.0


@dataclass(frozen=True)
class DeviceAuthorization:
    """What a device authorization endpoint answered (RFC 8628 §3.2). ``interval`` is the
    polling interval to start with; ``interval_note`` says why it is not the server's own."""

    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float
    device_code: Secret = field(repr=False)
    interval_note: str | None = None

    @property
    def link(self) -> str:
        """The page to open: the one with the code already filled in when the server gave it."""
        return self.verification_uri_complete or self.verification_uri


def read_device_authorization(
    *, status_code: int, content_type: str | None, body: bytes, datasource: str
) -> DeviceAuthorization:
    """Turn the device authorization endpoint's answer into a `DeviceAuthorization`, or raise.

    An OAuth error (RFC 8628 §3.2 uses RFC 6749 §5.2's format) raises its `TokenError`; anything
    else unusable (not JSON, a missing member, a verification URI that is not http(s), an
    ``expires_in`` that is not a positive number, an ``interval`` beyond any sensible polling
    rate) raises `TokenEndpointError` naming what is wrong. An ``interval`` of 0 or below is
    replaced by the RFC's default of 5 s (polling as fast as the network allows would be refused
    by the server anyway).
    """

    def unusable(reason: str) -> TokenEndpointError:
        return TokenEndpointError(
            f"the device authorization endpoint of {datasource} {reason}",
            status_code=status_code,
            content_type=content_type,
            snippet=body[:200].decode("utf-8", "replace"),
        )

    try:
        document = json.loads(body)
    except ValueError:
        raise unusable("did not answer JSON") from None
    if not isinstance(document, Mapping):
        raise unusable("did not answer a JSON object")
    if status_code != 200 or "error" in document:
        if isinstance(document.get("error"), str):
            error = token_error_from_response(status_code, document, datasource=datasource)
            raise error
        raise unusable(f"answered HTTP {status_code}")
    device_code, user_code = document.get("device_code"), document.get("user_code")
    if not isinstance(device_code, str) or not device_code:
        raise unusable("gave no device_code")
    if not isinstance(user_code, str) or not user_code.strip() or len(user_code) > 64:
        raise unusable("gave no usable user_code")
    # Some servers (Google) spell it verification_url, as a draft of RFC 8628 did.
    uri = document.get("verification_uri") or document.get("verification_url")
    if not _http_url(uri):
        raise unusable("gave no http(s) verification_uri")
    complete = document.get("verification_uri_complete")
    expires_in = _number(document.get("expires_in"))
    if expires_in is None or expires_in <= 0:
        raise unusable("gave no positive expires_in")
    interval = _number(document.get("interval"))
    note = None
    if interval is None or interval <= 0:
        if interval is not None:
            note = f"it asked to poll every {interval:g} s; polling every 5 s instead"
        interval = DEFAULT_INTERVAL_S
    elif interval > min(MAX_INTERVAL_S, expires_in):
        raise unusable(
            f"asked to wait {interval:g} s between checks, longer than "
            f"{'the code lives' if interval > expires_in else 'nb_oauth waits'}"
        )
    return DeviceAuthorization(
        user_code=redact_text(user_code.strip(), limit=64),
        verification_uri=str(uri),
        verification_uri_complete=complete if _http_url(complete) else None,
        expires_in=expires_in,
        interval=interval,
        device_code=Secret(device_code),
        interval_note=note,
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _http_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and (
        value.isprintable() and " " not in value
    )

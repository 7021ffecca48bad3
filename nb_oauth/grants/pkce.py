"""PKCE (RFC 7636) and `state` (RFC 6749 §10.12): fresh random values for every sign-in.

Always S256, never `plain` (RFC 7636 §7.2, RFC 9700 §2.1.1,
security.md#state-pkce-and-the-redirect-uri); `state` is always sent as well, since PKCE only
protects against CSRF when the server enforces it (RFC 9700 §4.7.1,
security.md#state-pkce-and-the-redirect-uri).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Literal

from nb_oauth.secret import Secret

__all__ = ["new_pkce", "new_state", "PkcePair", "s256", "state_matches"]


@dataclass(frozen=True)
class PkcePair:
    """A code verifier (kept secret until the token request) and its S256 challenge."""

    code_verifier: Secret = field(repr=False)
    code_challenge: str
    code_challenge_method: Literal["S256"] = "S256"


def s256(verifier: str) -> str:
    """`BASE64URL(SHA256(ASCII(verifier)))` without padding (RFC 7636 §4.2).

    Raises `UnicodeEncodeError` (a `ValueError`) for a non-ASCII verifier.
    """
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_pkce() -> PkcePair:
    """A fresh verifier and challenge for one authorization request (RFC 7636 §4.1).

    64 random bytes give an 86-character verifier from the unreserved set [A-Za-z0-9-._~]
    (within 43..128), twice the entropy RFC 7636 §7.1 recommends.
    """
    verifier = secrets.token_urlsafe(64)
    return PkcePair(code_verifier=Secret(verifier), code_challenge=s256(verifier))


def new_state() -> str:
    """A fresh, unguessable `state`: 256 bits, 43 base64url characters (RFC 6749 §10.12)."""
    return secrets.token_urlsafe(32)


def state_matches(expected: str, received: str | None) -> bool:
    """Compare a callback's `state` with ours in constant time
    (security.md#state-pkce-and-the-redirect-uri); `None` never matches."""
    if received is None:
        return False
    return hmac.compare_digest(expected.encode(), received.encode())

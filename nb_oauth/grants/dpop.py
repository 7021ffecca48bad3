"""DPoP (RFC 9449): proofs of possession of the datasource's key, and the servers' nonce requests.

Pure decisions over plain data (no HTTP library); the signing is `nb_oauth.grants.signing`'s, so
it needs the `nb_oauth[jwt]` extra, imported at the first proof (security.md#dpop).

* `new_dpop_key`: a fresh EC P-256 key pair as PEM, generated at a datasource's first token
  request and then kept with its tokens (the refresh token is bound to it).
* `proof`: one DPoP proof JWT (§4.2) for one HTTP request: `typ` `dpop+jwt`, the public `jwk`,
  `jti`, `htm`, `htu` (no query, no fragment), `iat`, and `nonce` / `ath` when given.
* `token_endpoint_nonce` and `api_nonce`: the nonce a server asks for (§8, §9), or `None`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import weakref
from collections.abc import Iterable
from typing import Any

from nb_oauth.bearer import parse_challenges
from nb_oauth.errors import DPoPError
from nb_oauth.grants.signing import SigningKey
from nb_oauth.secret import Secret

__all__ = [
    "api_nonce",
    "ath",
    "DPOP_ALG",
    "fresh_nonce",
    "htu",
    "load_dpop_key",
    "new_dpop_key",
    "nonce_loop",
    "proof",
    "token_endpoint_nonce",
]

#: The one algorithm nb_oauth's DPoP keys use: ES256 (RFC 9449 §5.1 names it; small and fast).
DPOP_ALG = "ES256"
_MAX_NONCE = 512


def new_dpop_key() -> Secret:
    """A new EC P-256 private key, PEM (PKCS#8), for the secret store."""
    from nb_oauth.grants.signing import generate_key, private_pem

    return private_pem(generate_key())


def load_dpop_key(pem: Secret, *, datasource: str) -> SigningKey:
    """The stored DPoP key, ready to sign. Raises `ConfigError` when it is unreadable."""
    from nb_oauth.grants.signing import load_private_key

    return load_private_key(pem, datasource=datasource)


def htu(url: str) -> str:
    """The `htu` claim: the request URL without query and fragment (RFC 9449 §4.2). `url` is
    as httpx writes it, percent-encoded: a `?` or `#` in it can only start the query or the
    fragment (RFC 3986 §3), so cutting there is exact, and cheaper than parsing on every
    request."""
    return url.partition("#")[0].partition("?")[0]


def ath(access_token: str) -> str:
    """The `ath` claim: base64url of the SHA-256 of the access token (RFC 9449 §4.2)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def proof(
    key: SigningKey,
    method: str,
    url: str,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
    token_hash: str | None = None,
    now: float | None = None,
) -> str:
    """A DPoP proof for one request (RFC 9449 §4.2). `access_token` adds `ath` (§4.2, §7.1);
    `token_hash` is that `ath` already computed (a token is sent many times).

    `iat` is the wall clock unless `now` is given: the server compares it with its own clock.
    One ES256 signature; the protected header (with the public `jwk`) is encoded once per key.
    """
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": htu(url),
        "iat": int(time.time() if now is None else now),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if token_hash is not None:
        claims["ath"] = token_hash
    elif access_token is not None:
        claims["ath"] = ath(access_token)
    return key.sign_es256(_header_segment(key), claims)


_HEADERS: weakref.WeakKeyDictionary[SigningKey, str] = weakref.WeakKeyDictionary()


def _header_segment(key: SigningKey) -> str:
    segment = _HEADERS.get(key)
    if segment is None:
        from nb_oauth.grants.signing import encode_header

        header = {"typ": "dpop+jwt", "alg": DPOP_ALG, "jwk": key.public_jwk()}
        segment = _HEADERS[key] = encode_header(header)
    return segment


def _nonce_header(value: str | None) -> str | None:
    # RFC 9449 §8.1: NQCHAR (0x21, 0x23-0x5B, 0x5D-0x7E); anything else is ignored.
    if not value or len(value) > _MAX_NONCE:
        return None
    if all(c == "!" or "#" <= c <= "[" or "]" <= c <= "~" for c in value):
        return value
    return None


def token_endpoint_nonce(status_code: int, nonce_header: str | None, body: bytes) -> str | None:
    """The nonce the authorization server asks for: a 400 with `error` `use_dpop_nonce` and a
    `DPoP-Nonce` header (RFC 9449 §8); else `None`."""
    if status_code != 400:
        return None
    try:
        members = json.loads(body[:4096])
    except (ValueError, RecursionError):
        return None
    if not isinstance(members, dict) or members.get("error") != "use_dpop_nonce":
        return None
    return _nonce_header(nonce_header)


def api_nonce(status_code: int, challenges: Iterable[str], nonce_header: str | None) -> str | None:
    """The nonce a resource server asks for: a 401 with a `DPoP` challenge whose `error` is
    `use_dpop_nonce`, and a `DPoP-Nonce` header (RFC 9449 §9); else `None`."""
    if status_code != 401:
        return None
    for challenge in parse_challenges(challenges):
        if challenge.scheme == "dpop" and challenge.params.get("error") == "use_dpop_nonce":
            return _nonce_header(nonce_header)
    return None


def fresh_nonce(nonce_header: str | None) -> str | None:
    """A `DPoP-Nonce` header on any response: the server's next nonce (RFC 9449 §8.2)."""
    return _nonce_header(nonce_header)


def nonce_loop(datasource: str | None, *, server: str = "authorization server") -> DPoPError:
    """The error for a server that asks for a new nonce right after one was used (§8, §9)."""
    return DPoPError(
        f"the {server} asked for a new DPoP nonce again right after nb_oauth used the one it "
        "gave",
        "try again in a moment; if it persists, its DPoP nonces are misconfigured (tell its "
        "administrators), or set dpop=False if it does not need DPoP",
        datasource=datasource,
    )

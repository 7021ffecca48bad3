"""DPoP for the demo provider (RFC 9449), written here because Authlib (1.6-1.9) has no DPoP
server side: checking proofs at the token endpoint (§4.3, §5) and at the API (§7), nonces (§8, §9)
and binding tokens to the key's thumbprint (§6). Small on purpose; each check cites its section.

The checks of RFC 9449 §4.3, in order: one `DPoP` header; a JWS whose `typ` is `dpop+jwt`, whose
`alg` is asymmetric and supported, and whose `jwk` is a public key that verifies the signature;
`jti`, `htm`, `htu`, `iat` present; `htm` and `htu` match the request; `iat` within a minute of
the wall clock (the client's clock, not the demo's simulated one); the `nonce` when one is
required; `ath` for an access token; a `jti` seen once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Response, jsonify

__all__ = ["DPOP_ALGS", "DPoPProblem", "DPoPVerifier"]

#: What the demo accepts (RFC 9449 §5.1 `dpop_signing_alg_values_supported`).
DPOP_ALGS = ("ES256", "RS256", "PS256")
_IAT_WINDOW_S = 60


class DPoPProblem(Exception):
    """A proof the server refuses: `error` is `invalid_dpop_proof` or `use_dpop_nonce`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class DPoPVerifier:
    """One server's DPoP checks and nonce (the authorization server and the API have one each).

    `require_nonce`: every proof must carry the current nonce (§8, §9). `nonce_loop`: the nonce
    changes on every request, so a client can never satisfy it (a misbehaving server, for tests).
    """

    require_nonce: bool = False
    nonce_loop: bool = False
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    _seen: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, values: list[str], method: str, url: str,
              access_token: str | None = None) -> str:
        """Check the proof(s) in the `DPoP` header values; return the key's RFC 7638 thumbprint
        (`jkt`). Raises `DPoPProblem`."""
        from joserfc import jws
        from joserfc.errors import JoseError
        from joserfc.jwk import ECKey, RSAKey

        if len(values) != 1:  # §4.3 item 1
            raise DPoPProblem("invalid_dpop_proof", "send exactly one DPoP header")
        try:
            compact = jws.extract_compact(values[0].encode())
            header = compact.headers()
            claims = json.loads(compact.payload)
        except (JoseError, ValueError):
            raise DPoPProblem("invalid_dpop_proof", "the DPoP proof is not a JWS") from None
        jwk = header.get("jwk")
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in DPOP_ALGS:
            raise DPoPProblem("invalid_dpop_proof", "typ must be dpop+jwt with an asymmetric alg")
        if not isinstance(jwk, dict) or "d" in jwk or jwk.get("kty") not in ("EC", "RSA"):
            raise DPoPProblem("invalid_dpop_proof", "jwk must be a public EC or RSA key")
        try:
            key = (RSAKey if jwk["kty"] == "RSA" else ECKey).import_key(jwk)
            jws.deserialize_compact(values[0], key, algorithms=[header["alg"]])
        except (JoseError, ValueError, KeyError):
            raise DPoPProblem("invalid_dpop_proof", "the DPoP proof's signature is wrong") from None
        if not isinstance(claims, dict) or not all(
            k in claims for k in ("jti", "htm", "htu", "iat")
        ):
            raise DPoPProblem("invalid_dpop_proof", "jti, htm, htu and iat are required")
        if claims["htm"] != method or _htu(str(claims["htu"])) != _htu(url):
            raise DPoPProblem("invalid_dpop_proof", "htm or htu does not match the request")
        iat = claims["iat"]
        if not isinstance(iat, (int, float)) or abs(time.time() - iat) > _IAT_WINDOW_S:
            raise DPoPProblem("invalid_dpop_proof", "iat is not recent")
        if self.require_nonce or self.nonce_loop:
            with self._lock:
                expected = self.nonce
                if self.nonce_loop:  # a new nonce every time: no proof can ever carry it
                    self.nonce = expected = secrets.token_urlsafe(16)
            if claims.get("nonce") != expected:
                raise DPoPProblem("use_dpop_nonce", "use the nonce in the DPoP-Nonce header")
        if access_token is not None and claims.get("ath") != _hash(access_token):
            raise DPoPProblem("invalid_dpop_proof", "ath does not match the access token")
        with self._lock:  # §11.1: a proof is used once
            if claims["jti"] in self._seen:
                raise DPoPProblem("invalid_dpop_proof", "this proof was used before")
            self._seen.add(str(claims["jti"]))
        return str(key.thumbprint())

    def token_error(self, problem: DPoPProblem) -> Response:
        """The token endpoint's answer (§5): 400, with the nonce to use (§8)."""
        response = jsonify({"error": problem.error, "error_description": problem.description})
        response.status_code = 400
        response.headers["DPoP-Nonce"] = self.nonce
        response.headers["Cache-Control"] = "no-store"
        return response

    def api_challenge(self, problem: DPoPProblem) -> Response:
        """The API's answer (§7.1, §9): 401 with a DPoP challenge and the nonce to use."""
        response = jsonify({"error": problem.error})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = (
            f'DPoP error="{problem.error}", algs="{" ".join(DPOP_ALGS)}"'
        )
        response.headers["DPoP-Nonce"] = self.nonce
        return response


def _htu(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path, "", ""))


def _hash(token: str) -> str:
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def request_values(headers: Any) -> list[str]:
    """The `DPoP` header values of a Flask request."""
    return list(headers.getlist("DPoP"))

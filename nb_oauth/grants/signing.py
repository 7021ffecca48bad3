"""Signed JWTs for the client: private keys, client assertions (RFC 7523) and their checks.

The JOSE work is done by `joserfc` (the optional `nb_oauth[jwt]` extra), imported only when a
datasource signs something, so `import nb_oauth` and the protocol core stay free of it
(docs/architecture.md#signed-requests). Keys arrive as PEM text and are parsed with
`cryptography`, which tells a public key, an encrypted key and garbage apart, so every refusal is
one line that says what to do (security.md#private-keys).

A `SigningKey` holds the private key; its `repr` shows only the key type and the RFC 7638
thumbprint, and it refuses pickling (security.md#errors-logs-and-reprs).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import textwrap
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from nb_oauth.datasource import SIGNING_ALGS
from nb_oauth.errors import ConfigError
from nb_oauth.secret import Secret

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, OctKey, RSAKey

__all__ = [
    "ASSERTION_LIFETIME_S",
    "CLIENT_ASSERTION_TYPE",
    "client_assertion",
    "KEY_ALGS",
    "load_private_key",
    "SigningKey",
    "sign_jwt",
]

#: RFC 7523 §2.2, RFC 7521 §4.2.
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: How long an assertion is valid: short, well inside the 5 minutes servers allow.
ASSERTION_LIFETIME_S = 60
#: The JWS algorithms (RFC 7518 §3.1) each key type may sign with; the first is the default.
KEY_ALGS = SIGNING_ALGS
_MIN_RSA_BITS = 2048
_PEM = re.compile(r"(-----BEGIN ([A-Z0-9 ]+)-----)(.*?)(-----END \2-----)", re.DOTALL)


def _normalized_pem(text: str) -> bytes:
    """The PEM with its base64 body rewrapped at 64 columns: a key pasted into a one-line
    password field arrives with its line breaks removed or turned into spaces."""
    found = _PEM.search(text)
    if found is None:
        return text.strip().encode("utf-8", "replace")
    begin, _, body, end = found.groups()
    if ":" in body:  # RFC 1421 headers (Proc-Type: an encrypted traditional key): leave as is
        return found.group(0).encode("utf-8", "replace")
    compact = "".join(body.split())
    return "\n".join([begin, *textwrap.wrap(compact, 64), end, ""]).encode("ascii", "replace")
_EXTRA_HINT = "install the signing support with: pip install 'nb_oauth[jwt]'"


@dataclass(frozen=True, eq=False)  # not slotted: the native signer is cached on the instance
class SigningKey:
    """A private key (RSA or EC P-256) or an HMAC secret, ready to sign.

    `kty` is the JWK key type (`RSA`, `EC`, `oct`); `thumbprint` the RFC 7638 SHA-256 thumbprint
    of the public key (empty for `oct`, which has nothing public to show).
    """

    kty: str
    thumbprint: str
    _jwk: RSAKey | ECKey | OctKey = field(repr=False)

    @property
    def default_alg(self) -> str:
        return KEY_ALGS[self.kty][0]

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517): what the authorization server registers, and what
        a DPoP proof carries. Raises `ValueError` for an HMAC key."""
        if self.kty == "oct":
            raise ValueError("an HMAC secret has no public key")
        return dict(self._jwk.as_dict(private=False))

    @cached_property
    def _es256_signer(self) -> Any:
        """The native EC key, for `sign_es256` (computed once per key)."""
        if self.kty != "EC":
            raise ValueError("ES256 needs an EC P-256 key")
        return self._jwk.private_key

    def sign_es256(self, header_segment: str, claims: dict[str, Any]) -> str:
        """A compact JWS (RFC 7515 §7.1) of `claims` under an already encoded protected header,
        signed ES256 (RFC 7518 §3.4: the raw 64-byte R || S). The per-request fast path of DPoP
        proofs: joserfc's generic encoder costs several times the signature itself, so this is
        the signature and little else (the algorithm object and the encoder are made once); the
        tests verify these proofs with joserfc."""
        algorithm, decode_dss = _es256()
        signing_input = f"{header_segment}.{_b64(_COMPACT_JSON.encode(claims).encode())}"
        r, s = decode_dss(self._es256_signer.sign(signing_input.encode("ascii"), algorithm))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def check_alg(self, alg: str, *, datasource: str) -> None:
        """Raise `ConfigError` (field `signing_alg`) when this key cannot sign with `alg`."""
        if alg not in KEY_ALGS[self.kty]:
            kind = {"RSA": "an RSA key", "EC": "an EC P-256 key", "oct": "a client secret"}
            raise ConfigError(
                "signing_alg",
                f"{alg} cannot be used with {kind[self.kty]} ({datasource})",
                f"use {' or '.join(KEY_ALGS[self.kty])}, or leave signing_alg empty for "
                f"{self.default_alg}",
            )

    def __repr__(self) -> str:
        return f"SigningKey(kty={self.kty!r}, thumbprint={self.thumbprint!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SigningKey holds a private key and cannot be pickled")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


#: JSON as JWS segments are written: compact. One encoder (json.dumps with options builds one
#: per call).
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


@cache
def _es256() -> tuple[Any, Callable[[bytes], tuple[int, int]]]:
    """ECDSA with SHA-256, and the DER signature decoder, from `cryptography` (once)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    return ec.ECDSA(hashes.SHA256()), utils.decode_dss_signature


def encode_header(header: dict[str, Any]) -> str:
    """A JWS protected header as its base64url segment (RFC 7515 §7.1)."""
    return _b64(_COMPACT_JSON.encode(header).encode())


def _jose() -> Any:
    try:
        import joserfc.jwk  # noqa: F401 - the extra is optional
        import joserfc.jwt  # noqa: F401
    except ImportError:
        raise ConfigError(
            "client_auth", "signing needs the joserfc package, which is not installed",
            _EXTRA_HINT,
        ) from None
    import joserfc

    return joserfc


def load_private_key(pem: str | Secret, *, datasource: str, checked: bool = False) -> SigningKey:
    """Parse a PEM private key (PKCS#8 or traditional; RSA of at least 2048 bits, or EC P-256).

    `checked=True` is for a key nb_oauth checked when it was saved: the RSA consistency check,
    which costs tens of milliseconds, is not repeated at every token request.

    Raises `ConfigError` (field `private_key`), naming `datasource` and what to do, for text that
    is not a PEM private key, a public key or certificate, an encrypted key, another curve or a
    short RSA key. Never puts any of the key in a message.
    """
    _jose()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from joserfc.jwk import ECKey, RSAKey

    text = pem.reveal() if isinstance(pem, Secret) else pem
    if not isinstance(text, str):
        raise TypeError(f"private_key must be a str, not {type(text).__name__}")
    data = _normalized_pem(text)

    def refuse(problem: str, fix: str) -> NoReturn:
        raise ConfigError("private_key", f"{problem} ({datasource})", fix)

    if b"-----BEGIN" not in data:
        refuse("is not a PEM private key",
               "give the text of the key file, from -----BEGIN PRIVATE KEY----- to its END line")
    if b"PUBLIC KEY-----" in data or b"CERTIFICATE-----" in data:
        refuse("is a public key or certificate, but signing needs the private key",
               "give the private key file; register the public key at the authorization server")
    if b"ENCRYPTED" in data:
        refuse("is encrypted with a passphrase",
               "decrypt it first: openssl pkey -in key.pem -out plain.pem")
    try:
        native = serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=checked
        )
    except (ValueError, TypeError, Exception):  # noqa: B014 - cryptography raises several kinds
        refuse("is not a PEM private key that can be read",
               "give an RSA or EC P-256 private key in PEM (openssl genpkey makes one)")
    if isinstance(native, rsa.RSAPrivateKey):
        if native.key_size < _MIN_RSA_BITS:
            refuse(f"is an RSA key of {native.key_size} bits",
                   f"use an RSA key of at least {_MIN_RSA_BITS} bits (RFC 7518 §3.3)")
        key: RSAKey | ECKey = RSAKey.import_key(native)
        kty = "RSA"
    elif isinstance(native, ec.EllipticCurvePrivateKey) and isinstance(native.curve, ec.SECP256R1):
        key = ECKey.import_key(native)
        kty = "EC"
    else:
        refuse("is neither an RSA nor an EC P-256 key",
               "use an RSA (2048 bits or more) or EC P-256 private key")
    return SigningKey(kty=kty, thumbprint=key.thumbprint(), _jwk=key)


def hmac_key(client_secret: Secret, *, datasource: str = "") -> SigningKey:
    """The client secret as an HMAC key, for `client_secret_jwt` (RFC 7523 §2.2 with HS256).

    A secret shorter than 32 bytes is weaker than RFC 7518 §3.2 requires of an HS256 key; the
    server issued it, so it is used, with one `SecurityWarning` naming the datasource.
    """
    _jose()
    from joserfc.jwk import OctKey

    from nb_oauth.errors import SecurityWarning

    data = client_secret.reveal().encode("utf-8")
    if len(data) < 32:
        warnings.warn(
            f"The client secret of {datasource or 'this datasource'} is shorter than 32 bytes, "
            "weaker than RFC 7518 §3.2 requires for client_secret_jwt (HS256); ask the provider "
            "for a longer one, or use private_key_jwt",
            SecurityWarning,
            stacklevel=4,
        )
    with warnings.catch_warnings():
        # joserfc's own warning about the same thing would name no datasource.
        warnings.simplefilter("ignore")
        key = OctKey.import_key(data)
    return SigningKey(kty="oct", thumbprint="", _jwk=key)


def generate_key() -> SigningKey:
    """A new EC P-256 key pair (a DPoP key: cheap to make, fast to sign with)."""
    _jose()
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    return SigningKey(kty="EC", thumbprint=key.thumbprint(), _jwk=key)


def private_pem(key: SigningKey) -> Secret:
    """The private key as PKCS#8 PEM, for the secret store. Raises `ValueError` for HMAC."""
    if key.kty == "oct":
        raise ValueError("an HMAC secret has no PEM form")
    jwk: Any = key._jwk
    return Secret(jwk.as_pem(private=True).decode("ascii"))


def sign_jwt(
    key: SigningKey, alg: str, claims: dict[str, Any], header: dict[str, Any] | None = None
) -> str:
    """A compact JWS of `claims` (RFC 7519) signed with `key` and `alg`."""
    joserfc = _jose()
    return str(joserfc.jwt.encode({**(header or {}), "alg": alg}, claims, key._jwk,
                                  algorithms=[alg]))


def client_assertion(
    key: SigningKey,
    *,
    alg: str,
    client_id: str,
    audience: str,
    key_id: str | None = None,
    now: float | None = None,
) -> str:
    """The client assertion of RFC 7523 §3: `iss` = `sub` = `client_id`, `aud` = `audience` (the
    token endpoint), a fresh `jti`, `iat` and a short `exp`.

    The times are the wall clock unless `now` is given: the authorization server checks them
    against its own clock, not against a session's (possibly simulated) one.
    """
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(24),
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_S,
    }
    header: dict[str, Any] = {"typ": "JWT"}
    if key_id:
        header["kid"] = key_id
    return sign_jwt(key, alg, claims, header)

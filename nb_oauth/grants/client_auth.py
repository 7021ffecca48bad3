"""Client authentication at the token endpoint (RFC 6749 §2.3), by RFC method name (STYLE rule 5).

A method is a pure function `(client_id, client_secret, params) -> (headers, params)`: it returns
the headers to add and the complete body parameters, and never mutates its input. The httpx adapter
applies the result, so these functions know nothing about HTTP libraries. Exactly one method is
used per request, so credentials never go both in a header and in the body
(security.md#client-authentication).

The returned `Authorization` header and `client_secret` parameter carry the credential in clear:
callers put them on the wire and nowhere else (no logging, no repr).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal
from urllib.parse import quote_plus, urlencode

from nb_oauth.errors import ConfigError
from nb_oauth.secret import Secret

__all__ = [
    "client_auth_method",
    "client_secret_basic",
    "client_secret_post",
    "ClientAuthMethod",
    "DATASOURCE_CLIENT_AUTH",
    "encode_token_request",
    "JWT_METHODS",
    "jwt_client_auth",
    "no_client_auth",
    "register_client_auth_method",
    "select_client_auth",
]

ClientAuthMethod = Callable[
    [str, Secret | None, Mapping[str, str]], tuple[dict[str, str], dict[str, str]]
]

# Credentials in a caller's params would be sent in addition to the chosen method: drop them.
_CREDENTIAL_PARAMS = ("client_id", "client_secret", "client_assertion", "client_assertion_type")


def _params_without_credentials(params: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in params.items() if name not in _CREDENTIAL_PARAMS}


def _required(method: str, client_secret: Secret | None) -> str:
    if not client_secret:
        raise ConfigError(
            "client_secret",
            f"is not saved, but {method} needs it",
            "save it with nb_oauth.save(ds, client_secret=...), or use client_auth='none' for a "
            "public client",
        )
    return client_secret.reveal()


def client_secret_basic(
    client_id: str, client_secret: Secret | None, params: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1, Appendix B;
    security.md#client-authentication).

    Raises `ConfigError` when no client secret is saved.
    """
    secret = _required("client_secret_basic", client_secret)
    # Appendix B: each part is application/x-www-form-urlencoded *before* Base64, so that ':'
    # in an id and '+', '/', '%' in a secret survive (AppAuth-Android#337, requests-oauthlib#568).
    credentials = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode("ascii")
    header = f"Basic {base64.b64encode(credentials).decode('ascii')}"
    return {"Authorization": header}, _params_without_credentials(params)


def client_secret_post(
    client_id: str, client_secret: Secret | None, params: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Id and secret in the request body, no header (RFC 6749 §2.3.1).

    Raises `ConfigError` when no client secret is saved.
    """
    secret = _required("client_secret_post", client_secret)
    body = _params_without_credentials(params)
    return {}, {**body, "client_id": client_id, "client_secret": secret}


def no_client_auth(
    client_id: str, client_secret: Secret | None, params: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """A public client: `client_id` in the body only (RFC 6749 §4.1.3, §6); any secret is unused."""
    return {}, {**_params_without_credentials(params), "client_id": client_id}


#: The methods that send a signed JWT instead of the secret (RFC 7523 §2.2, OpenID Connect Core
#: §9); what they sign with is the datasource's saved credential: the client secret
#: (`client_secret_jwt`, HMAC) or the private key PEM (`private_key_jwt`).
JWT_METHODS = frozenset({"client_secret_jwt", "private_key_jwt"})


def jwt_client_auth(
    method: str, *, audience: str, signing_alg: str | None, key_id: str | None, datasource: str
) -> ClientAuthMethod:
    """The `client_secret_jwt` or `private_key_jwt` method for one datasource: a
    `ClientAuthMethod` whose `client_secret` argument is the saved credential (the secret, or the
    private key PEM) and that sends a fresh client assertion with `aud` = `audience` (the token
    endpoint) on every call (security.md#private-keys). Signing needs `nb_oauth[jwt]`, imported
    only here, at the first request.

    The returned method raises `ConfigError` when the credential is missing, is not a usable key,
    or cannot sign with `signing_alg`.
    """
    if method not in JWT_METHODS:
        raise ValueError(f"{method!r} is not a JWT client authentication method")

    def authenticate(
        client_id: str, credential: Secret | None, params: Mapping[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        from nb_oauth.grants import signing

        if method == "private_key_jwt":
            if not credential:
                raise ConfigError(
                    "private_key",
                    f"is not saved, but private_key_jwt needs it ({datasource})",
                    "save it with nb_oauth.save(ds, private_key=PEM) or %datasource add ... "
                    "--private-key-file PATH",
                )
            # Checked in full when it was saved (Session.save): read without repeating that.
            key = signing.load_private_key(credential, datasource=datasource, checked=True)
        else:
            key = signing.hmac_key(
                Secret(_required("client_secret_jwt", credential)), datasource=datasource
            )
        alg = signing_alg or key.default_alg
        key.check_alg(alg, datasource=datasource)
        assertion = signing.client_assertion(
            key, alg=alg, client_id=client_id, audience=audience, key_id=key_id
        )
        return {}, {
            **_params_without_credentials(params),
            "client_id": client_id,
            "client_assertion_type": signing.CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }

    return authenticate


_METHODS: dict[str, ClientAuthMethod] = {
    "client_secret_basic": client_secret_basic,
    "client_secret_post": client_secret_post,
    "none": no_client_auth,
}

# `Datasource.client_auth` values (the seed's wording) → RFC 7591 §2 method names.
DATASOURCE_CLIENT_AUTH: Mapping[str, str] = MappingProxyType(
    {
        "basic": "client_secret_basic",
        "body": "client_secret_post",
        "none": "none",
        "client_secret_jwt": "client_secret_jwt",
        "private_key_jwt": "private_key_jwt",
    }
)
_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})


def register_client_auth_method(name: str, method: ClientAuthMethod) -> None:
    """Add a custom method (e.g. `private_key_jwt`). Raises `ValueError` if `name` is taken."""
    if name in _METHODS or name in DATASOURCE_CLIENT_AUTH or name in JWT_METHODS:
        raise ValueError(f"client authentication method {name!r} is already registered")
    _METHODS[name] = method


def client_auth_method(name: str) -> ClientAuthMethod:
    """The method registered as `name`. Raises `ConfigError` for an unknown name."""
    try:
        return _METHODS[name]
    except KeyError:
        raise ConfigError(
            "client_auth", f"{name!r} is not a known method", f"use one of {', '.join(_METHODS)}"
        ) from None


def select_client_auth(client_auth: str, client_secret: Secret | None) -> ClientAuthMethod:
    """The method for a datasource's `client_auth` ('basic', 'body', 'none' or an RFC name).

    With no saved secret, the secret-based methods become `none` (a public client): the
    default `basic` then matches STYLE rule 5, "basic when a secret exists, else none".
    Raises `ConfigError` for an unknown name.
    """
    name = DATASOURCE_CLIENT_AUTH.get(client_auth, client_auth)
    if name in JWT_METHODS:
        raise ValueError(f"{name} needs the token endpoint: use jwt_client_auth")
    if name in _SECRET_METHODS and not client_secret:
        name = "none"
    if name in _SECRET_METHODS and client_secret and "-----BEGIN" in client_secret.reveal():
        # A private key saved for private_key_jwt is never sent as a shared secret.
        raise ConfigError(
            "client_auth",
            f"is {client_auth!r}, but the saved credential is a private key",
            "set client_auth='private_key_jwt', or save the client secret again",
        )
    return client_auth_method(name)


def encode_token_request(
    params: Mapping[str, str], encoding: Literal["form", "json"]
) -> tuple[str, bytes]:
    """The Content-Type and body of a token request.

    `form` is the RFC's `application/x-www-form-urlencoded` in UTF-8 (RFC 6749 §4.1.3, Appendix B);
    `json` is for servers that want a JSON object instead. Raises `ConfigError` for another value.
    """
    if encoding == "form":
        return "application/x-www-form-urlencoded", urlencode(params).encode("ascii")
    if encoding == "json":
        return "application/json", json.dumps(dict(params)).encode("utf-8")
    raise ConfigError("body_encoding", f"{encoding!r} is not supported", "use 'form' or 'json'")

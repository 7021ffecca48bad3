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


_METHODS: dict[str, ClientAuthMethod] = {
    "client_secret_basic": client_secret_basic,
    "client_secret_post": client_secret_post,
    "none": no_client_auth,
}

# `Datasource.client_auth` values (the seed's wording) → RFC 7591 §2 method names.
DATASOURCE_CLIENT_AUTH: Mapping[str, str] = MappingProxyType(
    {"basic": "client_secret_basic", "body": "client_secret_post", "none": "none"}
)
_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})


def register_client_auth_method(name: str, method: ClientAuthMethod) -> None:
    """Add a custom method (e.g. `private_key_jwt`). Raises `ValueError` if `name` is taken."""
    if name in _METHODS or name in DATASOURCE_CLIENT_AUTH:
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
    if name in _SECRET_METHODS and not client_secret:
        name = "none"
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

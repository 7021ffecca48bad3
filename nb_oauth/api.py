"""The module-level calls of SPEC section 9: `save`, `client`, `async_client` and `auth`.

Each takes an optional `session`; without one it uses `default_session()`, the process's default
`Session`, created on first use. Until the keyring-backed store lands (the storage issue), that
session keeps everything in a `MemoryStore`, so nothing survives the process; the keyring store
will replace it there, and these signatures stay. `connect` and `disconnect` come with the
consent issue.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx

from nb_oauth.datasource import Datasource
from nb_oauth.oauth2_auth import OAuth2Auth
from nb_oauth.secret import Secret
from nb_oauth.session import Session

__all__ = ["async_client", "auth", "client", "default_session", "save"]


@functools.cache
def default_session() -> Session:
    """The process-default `Session` behind the module-level calls (created once, on first use).

    The one piece of process-wide state, because `nb_oauth.client("crm")` must find what
    `nb_oauth.save(ds)` saved; everything else takes an explicit `session`.
    """
    return Session()


def save(
    datasource: Datasource,
    *,
    client_secret: str | Secret | None = None,
    session: Session | None = None,
) -> None:
    """Save `datasource` and, when given, its client secret (write-only: never shown back).

    Raises `ConfigError` for an empty secret; never logs or echoes it.
    """
    (session or default_session()).save(datasource, client_secret=client_secret)


def client(name: str, *, session: Session | None = None, **httpx_kwargs: Any) -> httpx.Client:
    """An `httpx.Client` for the saved datasource `name`: `base_url`, auth and timeouts set.

    Other keyword arguments go to `httpx.Client`. Raises `ConfigError` for an unknown name.
    """
    return (session or default_session()).client(name, **httpx_kwargs)


def async_client(
    name: str, *, session: Session | None = None, **httpx_kwargs: Any
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for the saved datasource `name`; see `client`."""
    return (session or default_session()).async_client(name, **httpx_kwargs)


def auth(name: str, *, session: Session | None = None) -> OAuth2Auth:
    """The `httpx.Auth` of the saved datasource `name`, for a client you already have.

    Keep `follow_redirects=False` (httpx's default) on that client, or add
    `nb_oauth.redirect_guard` to its request event hooks (SEC-32).
    """
    return (session or default_session()).auth(name)

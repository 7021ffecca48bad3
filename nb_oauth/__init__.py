"""nb_oauth: OAuth 2.0 datasources for Jupyter and IPython.

Configure a connection to an OAuth-protected API once, grant consent once, and call the API from any
cell through an httpx client that attaches the token and refreshes it by itself::

    ds = nb_oauth.Datasource(name="crm", grant="client_credentials", token_url="https://...",
                             client_id="...", scopes="read,write", base_url="https://api...")
    nb_oauth.save(ds, client_secret=os.environ["CRM_SECRET"])
    with nb_oauth.client("crm") as api:
        api.get("/accounts")

Everything public is importable from here and listed in ``__all__``; other modules may change.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

__version__ = "0.1.0"

# Public name -> defining module. Imported on first use (PEP 562), so that `import nb_oauth` and
# `%load_ext nb_oauth` stay fast: httpx and the rest load when a name is first needed.
_EXPORTS = {
    "async_client": "nb_oauth.api",
    "async_redirect_guard": "nb_oauth._httpx",
    "auth": "nb_oauth.api",
    "AuthorizationDenied": "nb_oauth.errors",
    "AuthorizationError": "nb_oauth.errors",
    "CallbackTimeout": "nb_oauth.errors",
    "client": "nb_oauth.api",
    "ClientConfigError": "nb_oauth.errors",
    "ConfigError": "nb_oauth.errors",
    "ConfigFileError": "nb_oauth.errors",
    "connect": "nb_oauth.api",
    "ConnectResult": "nb_oauth.consent.flow",
    "Datasource": "nb_oauth.datasource",
    "default_session": "nb_oauth.api",
    "disconnect": "nb_oauth.api",
    "DisconnectResult": "nb_oauth.consent.flow",
    "InsufficientScope": "nb_oauth.errors",
    "KeyringStore": "nb_oauth.store.keyring_store",
    "MemoryStore": "nb_oauth.store",
    "NbOAuthError": "nb_oauth.errors",
    "NbOAuthWarning": "nb_oauth.errors",
    "NoRefreshToken": "nb_oauth.consent.flow",
    "NoSecureStorage": "nb_oauth.errors",
    "OAuth2Auth": "nb_oauth.oauth2_auth",
    "PortInUse": "nb_oauth.errors",
    "ReauthRequired": "nb_oauth.errors",
    "redirect_guard": "nb_oauth._httpx",
    "remove": "nb_oauth.api",
    "save": "nb_oauth.api",
    "ScopeError": "nb_oauth.errors",
    "Secret": "nb_oauth.secret",
    "SecretTooLargeForBackend": "nb_oauth.errors",
    "SecurityWarning": "nb_oauth.errors",
    "Session": "nb_oauth.session",
    "SignInCancelled": "nb_oauth.errors",
    "StateMismatch": "nb_oauth.errors",
    "StorageUnavailable": "nb_oauth.errors",
    "StorageWarning": "nb_oauth.errors",
    "TokenEndpointError": "nb_oauth.errors",
    "TokenEndpointTimeout": "nb_oauth.errors",
    "TokenError": "nb_oauth.errors",
    "TokenSet": "nb_oauth.tokens",
    "TokenStore": "nb_oauth.store",
}

__all__ = [
    "__version__",
    "async_client",
    "async_redirect_guard",
    "auth",
    "AuthorizationDenied",
    "AuthorizationError",
    "CallbackTimeout",
    "client",
    "ClientConfigError",
    "ConfigError",
    "ConfigFileError",
    "connect",
    "ConnectResult",
    "Datasource",
    "default_session",
    "disconnect",
    "DisconnectResult",
    "InsufficientScope",
    "KeyringStore",
    "load_ipython_extension",
    "MemoryStore",
    "NbOAuthError",
    "NbOAuthWarning",
    "NoRefreshToken",
    "NoSecureStorage",
    "OAuth2Auth",
    "PortInUse",
    "ReauthRequired",
    "redirect_guard",
    "remove",
    "save",
    "ScopeError",
    "Secret",
    "SecretTooLargeForBackend",
    "SecurityWarning",
    "Session",
    "SignInCancelled",
    "StateMismatch",
    "StorageUnavailable",
    "StorageWarning",
    "TokenEndpointError",
    "TokenEndpointTimeout",
    "TokenError",
    "TokenSet",
    "TokenStore",
    "unload_ipython_extension",
]

if _typing.TYPE_CHECKING:
    from nb_oauth._httpx import (
        async_redirect_guard,
        redirect_guard,
    )
    from nb_oauth.api import (
        async_client,
        auth,
        client,
        connect,
        default_session,
        disconnect,
        remove,
        save,
    )
    from nb_oauth.consent.flow import (
        ConnectResult,
        DisconnectResult,
        NoRefreshToken,
    )
    from nb_oauth.datasource import (
        Datasource,
    )
    from nb_oauth.errors import (
        AuthorizationDenied,
        AuthorizationError,
        CallbackTimeout,
        ClientConfigError,
        ConfigError,
        ConfigFileError,
        InsufficientScope,
        NbOAuthError,
        NbOAuthWarning,
        NoSecureStorage,
        PortInUse,
        ReauthRequired,
        ScopeError,
        SecretTooLargeForBackend,
        SecurityWarning,
        SignInCancelled,
        StateMismatch,
        StorageUnavailable,
        StorageWarning,
        TokenEndpointError,
        TokenEndpointTimeout,
        TokenError,
    )
    from nb_oauth.oauth2_auth import (
        OAuth2Auth,
    )
    from nb_oauth.secret import (
        Secret,
    )
    from nb_oauth.session import (
        Session,
    )
    from nb_oauth.store import (
        MemoryStore,
        TokenStore,
    )
    from nb_oauth.store.keyring_store import (
        KeyringStore,
    )
    from nb_oauth.tokens import (
        TokenSet,
    )

def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nb_oauth' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | {k for k in globals() if k.startswith("__")})


def load_ipython_extension(ipython: _typing.Any) -> None:
    """``%load_ext nb_oauth``: register ``%datasource``, ``%%api`` and ``%api``.

    Imports nothing heavy: httpx, ipywidgets and the protocol code load when a magic first runs.
    """
    from nb_oauth.jupyter.magics import load

    load(ipython)


def unload_ipython_extension(ipython: _typing.Any) -> None:
    """``%unload_ext nb_oauth``: close the magics' clients and stop any waiting sign-in."""
    from nb_oauth.jupyter.magics import unload

    unload(ipython)

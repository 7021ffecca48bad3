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

from nb_oauth._httpx import async_redirect_guard, redirect_guard
from nb_oauth.api import (
    async_client,
    auth,
    client,
    connect,
    default_session,
    disconnect,
    save,
)
from nb_oauth.consent.flow import ConnectResult, DisconnectResult, NoRefreshToken
from nb_oauth.datasource import Datasource
from nb_oauth.errors import (
    AuthExpired,
    AuthorizationDenied,
    AuthorizationError,
    CallbackTimeout,
    ClientConfigError,
    ConfigError,
    InsufficientScope,
    NbOAuthError,
    NbOAuthWarning,
    PortInUse,
    ReauthRequired,
    ScopeError,
    SecretTooLargeForBackend,
    SecurityWarning,
    StateMismatch,
    StorageUnavailable,
    TokenEndpointError,
    TokenEndpointTimeout,
    TokenError,
)
from nb_oauth.oauth2_auth import OAuth2Auth
from nb_oauth.secret import Secret
from nb_oauth.session import Session
from nb_oauth.store import MemoryStore, TokenStore
from nb_oauth.tokens import TokenSet

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "async_client",
    "async_redirect_guard",
    "auth",
    "AuthExpired",
    "AuthorizationDenied",
    "AuthorizationError",
    "CallbackTimeout",
    "client",
    "ClientConfigError",
    "ConfigError",
    "connect",
    "ConnectResult",
    "Datasource",
    "default_session",
    "disconnect",
    "DisconnectResult",
    "InsufficientScope",
    "MemoryStore",
    "NbOAuthError",
    "NbOAuthWarning",
    "NoRefreshToken",
    "OAuth2Auth",
    "PortInUse",
    "ReauthRequired",
    "redirect_guard",
    "save",
    "ScopeError",
    "Secret",
    "SecretTooLargeForBackend",
    "SecurityWarning",
    "Session",
    "StateMismatch",
    "StorageUnavailable",
    "TokenEndpointError",
    "TokenEndpointTimeout",
    "TokenError",
    "TokenSet",
    "TokenStore",
]

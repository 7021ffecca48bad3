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


import importlib as _importlib
import typing as _typing

__version__ = "0.1.0"

# Public name -> defining module. Imported on first use (PEP 562), so that `import nb_oauth` and
# `%load_ext nb_oauth` stay fast: httpx and the rest load when a name is first needed.
_EXPORTS = {
    "afetch_all": "nb_oauth.process_session",
    "async_client": "nb_oauth.process_session",
    "async_redirect_guard": "nb_oauth.redirects",
    "auth": "nb_oauth.process_session",
    "AuthorizationDenied": "nb_oauth.errors",
    "AuthorizationError": "nb_oauth.errors",
    "CallbackTimeout": "nb_oauth.errors",
    "client": "nb_oauth.process_session",
    "ClientConfigError": "nb_oauth.errors",
    "ConfigError": "nb_oauth.errors",
    "ConfigFileError": "nb_oauth.errors",
    "ConsentNeeded": "nb_oauth.errors",
    "connect": "nb_oauth.process_session",
    "ConnectResult": "nb_oauth.consent.flow",
    "Datasource": "nb_oauth.datasource",
    "default_session": "nb_oauth.process_session",
    "DeviceCodeExpired": "nb_oauth.errors",
    "disconnect": "nb_oauth.process_session",
    "fetch_all": "nb_oauth.process_session",
    "DisconnectResult": "nb_oauth.consent.flow",
    "IncompleteWarning": "nb_oauth.errors",
    "InsufficientScope": "nb_oauth.errors",
    "KeyringStore": "nb_oauth.store.keyring_store",
    "MemoryStore": "nb_oauth.store",
    "NbOAuthError": "nb_oauth.errors",
    "NbOAuthWarning": "nb_oauth.errors",
    "NoRefreshToken": "nb_oauth.consent.flow",
    "NoSecureStorage": "nb_oauth.errors",
    "OAuth2Auth": "nb_oauth.oauth2_auth",
    "PagingError": "nb_oauth.errors",
    "PortInUse": "nb_oauth.errors",
    "providers": "nb_oauth.presets",
    "ProviderError": "nb_oauth.errors",
    "RateLimited": "nb_oauth.errors",
    "ReauthRequired": "nb_oauth.errors",
    "redirect_guard": "nb_oauth.redirects",
    "remove": "nb_oauth.process_session",
    "RetryPolicy": "nb_oauth.retries",
    "save": "nb_oauth.process_session",
    "ScopeError": "nb_oauth.errors",
    "Secret": "nb_oauth.secret",
    "SecretTooLargeForBackend": "nb_oauth.errors",
    "SecurityWarning": "nb_oauth.errors",
    "Session": "nb_oauth.session",
    "SetupError": "nb_oauth.errors",
    "SignInCancelled": "nb_oauth.errors",
    "SignInError": "nb_oauth.errors",
    "StateMismatch": "nb_oauth.errors",
    "StorageUnavailable": "nb_oauth.errors",
    "StorageWarning": "nb_oauth.errors",
    "TokenEndpointError": "nb_oauth.errors",
    "TokenEndpointTimeout": "nb_oauth.errors",
    "TokenEndpointUnreachable": "nb_oauth.errors",
    "TokenError": "nb_oauth.errors",
    "TokenSet": "nb_oauth.tokens",
    "TokenStore": "nb_oauth.store",
    "use_store": "nb_oauth.process_session",
}

#: Derived, never listed by hand: the exports above, the version and the extension's hooks.
__all__ = sorted(
    [*_EXPORTS, "__version__", "load_ipython_extension", "unload_ipython_extension"],
    key=str.casefold,
)

# For type checkers only (they do not run `__getattr__`); tests/test_exported_members.py checks
# that these imports name exactly `_EXPORTS`.
if _typing.TYPE_CHECKING:
    from nb_oauth.consent.flow import (
        ConnectResult as ConnectResult,
    )
    from nb_oauth.consent.flow import (
        DisconnectResult as DisconnectResult,
    )
    from nb_oauth.consent.flow import (
        NoRefreshToken as NoRefreshToken,
    )
    from nb_oauth.datasource import (
        Datasource as Datasource,
    )
    from nb_oauth.errors import (
        AuthorizationDenied as AuthorizationDenied,
    )
    from nb_oauth.errors import (
        AuthorizationError as AuthorizationError,
    )
    from nb_oauth.errors import (
        CallbackTimeout as CallbackTimeout,
    )
    from nb_oauth.errors import (
        ClientConfigError as ClientConfigError,
    )
    from nb_oauth.errors import (
        ConfigError as ConfigError,
    )
    from nb_oauth.errors import (
        ConfigFileError as ConfigFileError,
    )
    from nb_oauth.errors import (
        ConsentNeeded as ConsentNeeded,
    )
    from nb_oauth.errors import (
        DeviceCodeExpired as DeviceCodeExpired,
    )
    from nb_oauth.errors import (
        IncompleteWarning as IncompleteWarning,
    )
    from nb_oauth.errors import (
        InsufficientScope as InsufficientScope,
    )
    from nb_oauth.errors import (
        NbOAuthError as NbOAuthError,
    )
    from nb_oauth.errors import (
        NbOAuthWarning as NbOAuthWarning,
    )
    from nb_oauth.errors import (
        NoSecureStorage as NoSecureStorage,
    )
    from nb_oauth.errors import (
        PagingError as PagingError,
    )
    from nb_oauth.errors import (
        PortInUse as PortInUse,
    )
    from nb_oauth.errors import (
        ProviderError as ProviderError,
    )
    from nb_oauth.errors import (
        RateLimited as RateLimited,
    )
    from nb_oauth.errors import (
        ReauthRequired as ReauthRequired,
    )
    from nb_oauth.errors import (
        ScopeError as ScopeError,
    )
    from nb_oauth.errors import (
        SecretTooLargeForBackend as SecretTooLargeForBackend,
    )
    from nb_oauth.errors import (
        SecurityWarning as SecurityWarning,
    )
    from nb_oauth.errors import (
        SetupError as SetupError,
    )
    from nb_oauth.errors import (
        SignInCancelled as SignInCancelled,
    )
    from nb_oauth.errors import (
        SignInError as SignInError,
    )
    from nb_oauth.errors import (
        StateMismatch as StateMismatch,
    )
    from nb_oauth.errors import (
        StorageUnavailable as StorageUnavailable,
    )
    from nb_oauth.errors import (
        StorageWarning as StorageWarning,
    )
    from nb_oauth.errors import (
        TokenEndpointError as TokenEndpointError,
    )
    from nb_oauth.errors import (
        TokenEndpointTimeout as TokenEndpointTimeout,
    )
    from nb_oauth.errors import (
        TokenEndpointUnreachable as TokenEndpointUnreachable,
    )
    from nb_oauth.errors import (
        TokenError as TokenError,
    )
    from nb_oauth.oauth2_auth import (
        OAuth2Auth as OAuth2Auth,
    )
    from nb_oauth.presets import (
        providers as providers,
    )
    from nb_oauth.process_session import (
        afetch_all as afetch_all,
    )
    from nb_oauth.process_session import (
        async_client as async_client,
    )
    from nb_oauth.process_session import (
        auth as auth,
    )
    from nb_oauth.process_session import (
        client as client,
    )
    from nb_oauth.process_session import (
        connect as connect,
    )
    from nb_oauth.process_session import (
        default_session as default_session,
    )
    from nb_oauth.process_session import (
        disconnect as disconnect,
    )
    from nb_oauth.process_session import (
        fetch_all as fetch_all,
    )
    from nb_oauth.process_session import (
        remove as remove,
    )
    from nb_oauth.process_session import (
        save as save,
    )
    from nb_oauth.process_session import (
        use_store as use_store,
    )
    from nb_oauth.redirects import (
        async_redirect_guard as async_redirect_guard,
    )
    from nb_oauth.redirects import (
        redirect_guard as redirect_guard,
    )
    from nb_oauth.retries import (
        RetryPolicy as RetryPolicy,
    )
    from nb_oauth.secret import (
        Secret as Secret,
    )
    from nb_oauth.session import (
        Session as Session,
    )
    from nb_oauth.store import (
        MemoryStore as MemoryStore,
    )
    from nb_oauth.store import (
        TokenStore as TokenStore,
    )
    from nb_oauth.store.keyring_store import (
        KeyringStore as KeyringStore,
    )
    from nb_oauth.tokens import (
        TokenSet as TokenSet,
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


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter server extension ``nb_oauth`` (the sign-in callback): its module."""
    return [{"module": "nb_oauth.server_extension"}]

"""`Session`: saved datasources plus the live auth objects that use them.

A session owns a `TokenStore` and a clock, and hands out one shared `OAuth2Auth` per datasource, so
every client of a datasource made by one session renews its token single-flight
(security.md#single-flight-renewal). State lives in session objects, never in module globals (STYLE
rule 10): the IPython extension creates and owns its own session; tests make one per test; the
module-level calls of the public API (`nb_oauth.save`, `nb_oauth.client`, ...) use
`nb_oauth.process_session.default_session()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from nb_oauth.datasource import Datasource
from nb_oauth.discovery import complete, needs_discovery, rediscover
from nb_oauth.errors import ConfigError
from nb_oauth.oauth2_auth import OAuth2Auth
from nb_oauth.redirects import async_redirect_guard, redirect_guard
from nb_oauth.retries import AsyncRetryTransport, RetryPolicy, RetryTransport
from nb_oauth.secret import Secret
from nb_oauth.store import MemoryStore, TokenStore
from nb_oauth.token_http import DEFAULT_TIMEOUT
from nb_oauth.tokens import TokenSet

__all__ = ["DEFAULT_RETRY", "Session", "missing_secret"]


#: The retry bounds of every client a session makes unless the caller passes its own.
DEFAULT_RETRY = RetryPolicy()
# Client settings that belong to the transport: the retrying transport wraps one built with them.
_TRANSPORT_OPTIONS = ("verify", "cert", "trust_env", "http1", "http2", "limits")


class Session:
    """Datasources in `store` (default: a new `MemoryStore`), with `now` as the clock.

    `sleep` and `async_sleep` are how its clients wait before a retry (rate limits, connection
    failures; default `time.sleep` and `anyio.sleep`): tests pass a fake clock's, so nothing
    sleeps. Thread-safe. Its `repr` names the store only; it never logs.
    """

    def __init__(
        self,
        store: TokenStore | None = None,
        *,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.store: TokenStore = MemoryStore() if store is None else store
        #: The clock every token expiry of this session is computed with (tests inject one).
        self.now = now
        self.sleep = sleep
        self.async_sleep = async_sleep
        self._lock = threading.Lock()
        self._auths: dict[str, OAuth2Auth] = {}

    def save(
        self,
        datasource: Datasource,
        *,
        client_secret: str | Secret | None = None,
        session_only: bool = False,
        private_key: str | Secret | None = None,
    ) -> None:
        """Save `datasource`, and its client secret when given (`None` keeps the saved one).

        `private_key` (PEM text, for `client_auth="private_key_jwt"`) is kept where the client
        secret would be, write-only like it, and checked first: a public key, an unreadable or
        unsupported key, or one that cannot sign with `signing_alg` is a `ConfigError` naming the
        datasource, and nothing is saved (security.md#private-keys).

        `session_only=True` keeps the datasource, its secret and its tokens in this process's
        memory only: nothing is written to disk, and a kernel restart needs a new save and consent
        (security.md#secret-storage). Tokens obtained for another token endpoint, client or grant
        are deleted.

        All or nothing (security.md#secret-storage): the secret is written first, and put back if
        the settings then cannot be written. Raises `ConfigError` for an empty secret, `TypeError`
        for a non-string one, `NoSecureStorage` when the keyring may not be used (with what to do
        instead), `SecretTooLargeForBackend`, `StorageUnavailable` and `ConfigFileError`; never
        echoes the secret.
        """
        if not isinstance(datasource, Datasource):
            raise TypeError(f"save() takes a Datasource, not {type(datasource).__name__}")
        secret = _secret(client_secret)
        signing_alg = datasource.signing_alg or (
            "HS256" if datasource.client_auth == "client_secret_jwt" else None
        )
        if private_key is not None or datasource.client_auth == "private_key_jwt":
            secret, signing_alg = self._credential(datasource, secret, private_key)
        elif secret is None and datasource.client_auth not in ("none",):
            self._refuse_saved_key(datasource)
        if needs_discovery(datasource):
            # Endpoints (and a registered client id) from metadata, checked, before anything is
            # saved: a failure leaves nothing half-configured.
            try:
                datasource = complete(datasource, signing_alg=signing_alg).replace(
                    metadata_fetched_at=self.now()
                )
            except ConfigError as exc:
                # One line that also says which datasource it is about.
                exc.args = (f"{datasource.name}: {exc.args[0]}",)
                raise
        name = datasource.name
        problem = missing_secret(
            name, datasource.grant, secret is not None or self._has_secret(name)
        )
        if problem is not None:
            raise problem
        previous = self.store.load_datasource(name)
        if session_only:
            self.store.save_datasource(datasource, session_only=True)
            if secret is not None:
                self.store.save_secret(name, secret)
        else:
            self._save_persistent(datasource, secret)
        if previous is not None and _identity(previous) != _identity(datasource):
            self.store.delete_tokens(name)
        with self._lock:
            self._auths.pop(name, None)

    def _credential(
        self, datasource: Datasource, secret: Secret | None, private_key: str | Secret | None
    ) -> tuple[Secret | None, str | None]:
        """The private key to save for a private_key_jwt datasource (checked), `None` to keep
        the saved one; and the algorithm it will sign with. Raises `ConfigError` naming the
        datasource."""
        name = datasource.name
        if datasource.client_auth != "private_key_jwt":
            raise ConfigError(
                "private_key", f"is only used with client_auth='private_key_jwt' ({name})",
                "set client_auth='private_key_jwt', or leave private_key out",
            )
        if secret is not None:
            raise ConfigError(
                "client_secret", f"is not used with client_auth='private_key_jwt' ({name})",
                "give private_key=PEM instead (or choose another client_auth)",
            )
        if private_key is None:
            saved = self.store.load_secret(name)
            if saved is None or "-----BEGIN" not in saved.reveal():
                raise ConfigError(
                    "private_key", f"is required for private_key_jwt ({name})",
                    "give it: nb_oauth.save(ds, private_key=PEM), or %datasource add ... "
                    "--private-key-file PATH",
                )
            return None, datasource.signing_alg
        if not isinstance(private_key, (str, Secret)):
            raise TypeError(f"private_key must be a str, not {type(private_key).__name__}")
        from nb_oauth.grants.signing import load_private_key

        pem = private_key if isinstance(private_key, Secret) else Secret(private_key.strip())
        key = load_private_key(pem, datasource=name)
        alg = datasource.signing_alg or key.default_alg
        key.check_alg(alg, datasource=name)
        return pem, alg

    def _refuse_saved_key(self, datasource: Datasource) -> None:
        """A datasource that leaves private_key_jwt keeps its saved private key as "the
        secret" until a secret is given: refuse, rather than ever send a key as a secret."""
        saved = self.store.load_datasource(datasource.name) and self.store.load_secret(
            datasource.name
        )
        if saved and "-----BEGIN" in saved.reveal():
            raise ConfigError(
                "client_secret",
                f"is needed for client_auth={datasource.client_auth!r}, but what is saved for "
                f"{datasource.name} is a private key",
                "give the client secret too (client_secret=..., %datasource edit NAME "
                "--new-client-secret), or keep client_auth='private_key_jwt'",
            )

    def _has_secret(self, name: str) -> bool:
        return self.store.load_datasource(name) is not None and (
            self.store.load_secret(name) is not None
        )

    def _save_persistent(self, datasource: Datasource, secret: Secret | None) -> None:
        name = datasource.name
        if secret is None:
            self.store.save_datasource(datasource)
            return
        before = self.store.load_secret(name)
        self.store.save_secret(name, secret)
        try:
            self.store.save_datasource(datasource)
        except BaseException:
            # security.md#secret-storage: never a new secret beside the old settings.
            if before is None:
                self.store.delete_secret(name)
            else:
                self.store.save_secret(name, before)
            raise

    def discover(self, name: str) -> Datasource:
        """Fetch `name`'s issuer metadata again and save the endpoints it gives
        (`%datasource discover NAME`). Raises `ConfigError` (one line) and saves nothing when
        the metadata is missing or unusable."""
        updated = rediscover(self.datasource(name)).replace(metadata_fetched_at=self.now())
        self.save(updated)
        return updated

    def datasource(self, name: str) -> Datasource:
        """The saved datasource `name`. Raises `ConfigError` when there is none."""
        datasource = self.store.load_datasource(name)
        if datasource is None:
            raise ConfigError(
                "name",
                f"no datasource named {name!r} is saved",
                "create it with nb_oauth.save(nb_oauth.Datasource(name=..., ...))",
            )
        return datasource

    def names(self) -> list[str]:
        """The names of the saved datasources, sorted."""
        return sorted(self.store.names())

    def remove(self, name: str) -> None:
        """Forget datasource ``name``: its settings, client secret and tokens (idempotent).

        Clients already handed out lose their token at once.
        """
        self.store.remove(name)
        with self._lock:
            auth = self._auths.pop(name, None)
        if auth is not None:
            auth.use_tokens(None)

    def auth(self, name: str) -> OAuth2Auth:
        """The shared `httpx.Auth` of datasource `name`, for any httpx client.

        With your own client, keep httpx's default `follow_redirects=False`, or add
        `nb_oauth.redirect_guard` (`async_redirect_guard`) to its request event hooks, so a
        redirect to another origin cannot carry a query-parameter token
        (security.md#where-the-token-goes). Raises `ConfigError` for an unknown name or a datasource
        without `base_url`.
        """
        with self._lock:
            auth = self._auths.get(name)
            if auth is None:
                datasource = self.datasource(name)
                # Endpoints taken from metadata are fetched again when one answers 404.
                refetch = (
                    (lambda: self.discover(name))
                    if datasource.metadata_fetched_at is not None else None
                )
                auth = OAuth2Auth(datasource, store=self.store, now=self.now, refetch=refetch)
                self._auths[name] = auth
            return auth

    def tokens_changed(self, name: str, tokens: TokenSet | None) -> None:
        """Tell the live auth of ``name`` that its stored tokens were replaced (connect) or
        wiped (disconnect), so clients already handed out use the change at once."""
        with self._lock:
            auth = self._auths.get(name)
        if auth is not None:
            auth.use_tokens(tokens)

    def client(
        self, name: str, *, retry: RetryPolicy | None = DEFAULT_RETRY, **httpx_kwargs: Any
    ) -> httpx.Client:
        """An `httpx.Client` for datasource `name`: `base_url`, auth, timeouts and retries set.

        Keyword arguments go to `httpx.Client` unchanged and win over the defaults (`timeout`
        defaults to 10 s connect/pool and 30 s read/write, security.md#network-faults); `auth` is
        refused because the point of this client is its auth. `retry` bounds the waits on rate
        limits and connection failures (`RetryPolicy`; `None`: no retries); a `transport=` of
        yours is wrapped by the retrying one. Raises `ConfigError` for an unknown name.
        """
        auth = self.auth(name)
        options = _options(auth, httpx_kwargs, redirect_guard)
        if retry is not None:
            inner = options.pop("transport", None) or httpx.HTTPTransport(**_transport(options))
            options["transport"] = RetryTransport(
                inner, retry, name=name, now=self.now, sleep=self.sleep
            )
        return httpx.Client(**options)

    def async_client(
        self, name: str, *, retry: RetryPolicy | None = DEFAULT_RETRY, **httpx_kwargs: Any
    ) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` for datasource `name`; see `client`."""
        auth = self.auth(name)
        options = _options(auth, httpx_kwargs, async_redirect_guard)
        if retry is not None:
            inner = options.pop("transport", None) or httpx.AsyncHTTPTransport(
                **_transport(options)
            )
            options["transport"] = AsyncRetryTransport(
                inner, retry, name=name, now=self.now, sleep=self.async_sleep
            )
        return httpx.AsyncClient(**options)

    def __repr__(self) -> str:
        return f"Session(store={self.store!r})"


def missing_secret(name: str, grant: str, has_secret: bool) -> ConfigError | None:
    """The one rule, for every way of saving: a client-credentials datasource cannot work
    without its client secret (RFC 6749 §4.4: confidential clients only). ``None`` when fine."""
    if grant == "client_credentials" and not has_secret:
        return ConfigError(
            "client_secret",
            f"is required for {name!r}: client credentials need the secret the provider issued",
            "give it (client_secret=..., --client-secret-env VAR, or the form's Client Secret)",
        )
    return None


def _secret(value: str | Secret | None) -> Secret | None:
    if value is None:
        return None
    if not isinstance(value, (str, Secret)):
        raise TypeError(f"client_secret must be a str, not {type(value).__name__}")
    secret = value if isinstance(value, Secret) else Secret(value.strip())
    if not secret:
        raise ConfigError(
            "client_secret", "is empty", "pass the secret, or leave it out for a public client"
        )
    return secret


def _identity(datasource: Datasource) -> tuple[str, str, str, bool]:
    # Tokens belong to one client of one authorization server (its issuer, else its token
    # endpoint: an endpoint that moved under the same issuer keeps them), for one grant; and
    # are bound to a DPoP key or not (security.md#dpop): turning DPoP on or off starts afresh.
    return (datasource.issuer or datasource.token_url, datasource.client_id, datasource.grant,
            datasource.dpop)


def _transport(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: options[key] for key in _TRANSPORT_OPTIONS if key in options}


def _options(auth: OAuth2Auth, httpx_kwargs: Mapping[str, Any], guard: Any) -> dict[str, Any]:
    if "auth" in httpx_kwargs:
        raise TypeError(
            "nb_oauth sets auth= itself; to combine with your own client, pass "
            "auth=nb_oauth.auth(name) to it instead"
        )
    options: dict[str, Any] = {"timeout": DEFAULT_TIMEOUT, **httpx_kwargs, "auth": auth}
    if auth.datasource.base_url and "base_url" not in options:
        options["base_url"] = auth.datasource.base_url
    if auth.datasource.headers:
        # The datasource's API headers as the client's defaults, so they replace httpx's own
        # (Accept: */*); the caller's headers win. Token requests never carry a client's
        # defaults (the auth builds them itself).
        options["headers"] = httpx.Headers(
            {**auth.datasource.headers, **httpx.Headers(options.get("headers") or {})}
        )
    hooks = {key: list(value) for key, value in (options.get("event_hooks") or {}).items()}
    # Last, so it sees each hop as the caller's own hooks left it.
    hooks["request"] = [*hooks.get("request", []), guard]
    options["event_hooks"] = hooks
    return options

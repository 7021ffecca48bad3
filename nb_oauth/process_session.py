"""The module-level calls of the public API: `save`, `connect`, `client`, `async_client`,
`auth` and `disconnect`.

Each takes an optional `session`; without one it uses `default_session()`, the process's default
`Session`, created on first use. Its store:

* a `KeyringStore`: settings in the config file under `NB_OAUTH_HOME` (else the user config
  directory), secrets where the one switch says (`NB_OAUTH_STORE=keyring|memory|file`, or the
  last `use_store` / `%datasource storage`; `nb_oauth.store.choice`). Nothing chosen: the keyring
  that keyring's own configuration selects, and when it has no usable backend (keyring's `fail`
  or `null` backend, a plaintext one without `NB_OAUTH_ALLOW_PLAINTEXT=1`) this kernel's memory,
  said once in one line (security.md#secret-storage);
* a `MemoryStore` when `NB_OAUTH_SESSION_ONLY=1` is set: nothing is written anywhere
  (security.md#secret-storage).

Session-only for one datasource, whatever the store: `save(ds, ..., session_only=True)`.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping
from typing import Any

import httpx

from nb_oauth.consent.console import ConsoleView
from nb_oauth.consent.flow import (
    DEFAULT_TIMEOUT_S,
    ConnectResult,
    ConsentView,
    DisconnectResult,
)
from nb_oauth.consent.flow import connect as _connect
from nb_oauth.consent.flow import disconnect as _disconnect
from nb_oauth.consent.unattended import unattended_reason
from nb_oauth.datasource import Datasource
from nb_oauth.errors import ConfigError, ConsentNeeded
from nb_oauth.fetch import afetch_pages, fetch_pages
from nb_oauth.oauth2_auth import OAuth2Auth
from nb_oauth.pages import PageRules
from nb_oauth.retries import RetryPolicy
from nb_oauth.secret import Secret
from nb_oauth.session import DEFAULT_RETRY, Session
from nb_oauth.store import MemoryStore

__all__ = [
    "afetch_all",
    "async_client",
    "auth",
    "client",
    "connect",
    "default_session",
    "disconnect",
    "fetch_all",
    "remove",
    "save",
    "use_store",
]


@functools.cache
def default_session() -> Session:
    """The process-default `Session` behind the module-level calls (created once, on first use).

    The one piece of process-wide state, because `nb_oauth.client("crm")` must find what
    `nb_oauth.save(ds)` saved; everything else takes an explicit `session`. Its store is
    described in the module docstring; keyring is imported only here, on first use (STYLE rule 1).
    """
    if os.environ.get("NB_OAUTH_SESSION_ONLY", "").strip() == "1":
        return Session(MemoryStore())
    from nb_oauth.store.keyring_store import KeyringStore

    return Session(KeyringStore())


def save(
    datasource: Datasource,
    *,
    client_secret: str | Secret | None = None,
    session_only: bool = False,
    session: Session | None = None,
    private_key: str | Secret | None = None,
) -> None:
    """Save `datasource` and, when given, its client secret (write-only: never shown back).

    For `client_auth="private_key_jwt"`, `private_key` is the PEM private key instead: checked,
    then kept like the client secret (in the keyring, never in the config file).

    The settings go to the config file and the secret to the keyring; with `session_only=True`
    both stay in this kernel's memory (connect again after a restart). Raises `ConfigError` for
    an empty secret, `NoSecureStorage` when there is no keyring to use (the message says what to
    do), `StorageUnavailable` / `ConfigFileError` when storage fails (nothing is half-saved);
    never logs or echoes the secret.
    """
    (session or default_session()).save(
        datasource, client_secret=client_secret, session_only=session_only,
        private_key=private_key,
    )


class StorageReport(str):
    """A line about storage, shown as is (no quotes) when a notebook cell displays it."""

    def __repr__(self) -> str:
        return str(self)


def use_store(store: str | None = None, *, session: Session | None = None) -> StorageReport:
    """Choose where client secrets and tokens are kept (security.md#secret-storage), or, without
    `store`, say where they are kept now and what the choices are.

    `store` is `"keyring"` (the system keyring, or an encrypted `keyrings.cryptfile` backend
    selected in keyring's own configuration), `"memory"` (this kernel only: sign in again after a
    restart) or `"file"` (a 0600 file in a 0700 folder under `NB_OAUTH_HOME`). The choice applies
    at once, copies this kernel's secrets and tokens to the new store (the old one keeps what it
    held), and is recorded under `NB_OAUTH_HOME` for later kernels; `NB_OAUTH_STORE`, when set,
    still wins there. `%datasource storage` is the same switch. Raises `ConfigError` for another
    name or a session that cannot switch, and `NoSecureStorage` (nothing changed) when the store
    may not be used here, such as a file store whose folder others can read.
    """
    from nb_oauth.store.keyring_store import KeyringStore

    chosen = session or default_session()
    if not isinstance(chosen.store, KeyringStore):
        if os.environ.get("NB_OAUTH_SESSION_ONLY", "").strip() == "1":
            why = "NB_OAUTH_SESSION_ONLY=1 keeps everything, settings too, in this kernel's memory"
            fix = "unset it and restart the kernel to choose a store"
        else:
            why = f"this session's store ({type(chosen.store).__name__}) has no switch"
            fix = "use a Session over a KeyringStore to choose a store"
        if store is None:
            return StorageReport(f"{why[0].upper()}{why[1:]}; {fix}")
        raise ConfigError("store", why, fix)
    if store is None:
        return StorageReport(chosen.store.storage())
    return StorageReport(chosen.store.use_store(store))


def remove(name: str, *, session: Session | None = None) -> None:
    """Forget datasource `name`: its settings, client secret and tokens, and nothing else
    (security.md#secret-storage). Does not revoke at the provider: `disconnect` first for that.
    Idempotent."""
    (session or default_session()).remove(name)


def client(
    name: str,
    *,
    retry: RetryPolicy | None = DEFAULT_RETRY,
    session: Session | None = None,
    **httpx_kwargs: Any,
) -> httpx.Client:
    """An `httpx.Client` for the saved datasource `name`: `base_url`, auth, timeouts and retries
    set.

    `retry` bounds the waits on rate limits and connection failures (`nb_oauth.RetryPolicy`;
    `None` turns retries off). Other keyword arguments go to `httpx.Client`. Raises
    `ConfigError` for an unknown name, `RateLimited` when the API asks for a longer wait.
    """
    return (session or default_session()).client(name, retry=retry, **httpx_kwargs)


def async_client(
    name: str,
    *,
    retry: RetryPolicy | None = DEFAULT_RETRY,
    session: Session | None = None,
    **httpx_kwargs: Any,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for the saved datasource `name`; see `client`."""
    return (session or default_session()).async_client(name, retry=retry, **httpx_kwargs)


def fetch_all(
    name: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    items: str | None = None,
    max_pages: int | None = None,
    next_path: str | None = None,
    cursor_param: str | None = None,
    df: bool = False,
    progress: bool = True,
    retry: RetryPolicy | None = DEFAULT_RETRY,
    session: Session | None = None,
) -> Any:
    """Every item of the collection at `url` (relative to the datasource's `base_url`), following
    its pages to the end or to `max_pages` (default cap: 1000 pages, with a warning when more are
    left), as one list; `df=True` returns a pandas DataFrame (`pandas.json_normalize`) instead.

    Next pages are found in the `Link` header, a next URL or a cursor in the body (Microsoft
    Graph, Salesforce, Slack, Google, Stripe and more); `next_path` names where the next URL is
    (with `cursor_param`, a cursor sent as that query parameter). Items are the body when it is a
    list, else the one list under a known key (`items`, `data`, `value`, ...), else `items` (a
    dotted path). A next page on another origin is refused: the token never follows it.

    A progress bar shows pages, items and waits (`progress=False`: none). Rate limits and
    connection failures are retried within `retry` (`nb_oauth.RetryPolicy`). Interrupting returns
    what was fetched, with an `IncompleteWarning`. Raises `PagingError` when a page cannot be used
    or a later call fails (what was fetched is in its `.items`), `ImportError` with the install
    line for `df=True` without pandas, and the first call's own error (`ReauthRequired`, ...).
    """
    session = session or default_session()
    rules = PageRules(items=items, next_path=next_path, cursor_param=cursor_param)
    with session.client(name, retry=retry) as api:
        return fetch_pages(
            api, url, params=params, rules=rules, max_pages=max_pages, df=df, progress=progress,
            name=name,
        )  # fmt: skip


async def afetch_all(
    name: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    items: str | None = None,
    max_pages: int | None = None,
    next_path: str | None = None,
    cursor_param: str | None = None,
    df: bool = False,
    progress: bool = True,
    retry: RetryPolicy | None = DEFAULT_RETRY,
    session: Session | None = None,
) -> Any:
    """`fetch_all` for async code (an `httpx.AsyncClient` underneath):
    ``items = await nb_oauth.afetch_all("crm", "/accounts")``."""
    session = session or default_session()
    rules = PageRules(items=items, next_path=next_path, cursor_param=cursor_param)
    async with session.async_client(name, retry=retry) as api:
        return await afetch_pages(
            api, url, params=params, rules=rules, max_pages=max_pages, df=df, progress=progress,
            name=name,
        )  # fmt: skip


def auth(name: str, *, session: Session | None = None) -> OAuth2Auth:
    """The `httpx.Auth` of the saved datasource `name`, for a client you already have.

    Keep `follow_redirects=False` (httpx's default) on that client, or add
    `nb_oauth.redirect_guard` to its request event hooks (security.md#where-the-token-goes).
    """
    return (session or default_session()).auth(name)


def connect(
    name: str,
    *,
    paste: bool = False,
    open_browser: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    session: Session | None = None,
    view: ConsentView | None = None,
) -> ConnectResult:
    """Sign in to datasource `name` in a new browser tab and store its tokens.

    A clickable link is always shown as well, because on a remote kernel the kernel's browser is
    not yours. `paste=True` (JupyterHub, SSH, containers): instead of waiting for the redirect,
    asks for the address the browser was redirected to, without echoing it. `open_browser=False`
    only shows the link. See `nb_oauth.consent.flow.connect` for what it raises.

    A run with nobody at the keyboard (papermill, `jupyter nbconvert --execute`, cron, CI, or
    `NB_OAUTH_NONINTERACTIVE=1`: see `nb_oauth.consent.unattended`) raises `ConsentNeeded` at
    once instead of waiting for a browser.
    """
    session = session or default_session()
    if session.datasource(name).grant != "client_credentials":
        reason = unattended_reason()
        if reason is not None:
            raise ConsentNeeded(name, reason)
    return _connect(
        session,
        name,
        view=view or _default_view(),
        paste=paste,
        open_browser=open_browser,
        timeout=timeout,
    )


def disconnect(name: str, *, session: Session | None = None) -> DisconnectResult:
    """Revoke `name`'s tokens at the provider when it has a `revocation_url`, and always wipe
    them locally; the result says whether the provider confirmed (RFC 7009)."""
    return _disconnect(session or default_session(), name)


def _default_view() -> ConsentView:
    # In a Jupyter kernel: a link that is replaced by the outcome. IPython is only looked for
    # when the host already imported it, so `import nb_oauth` stays free of it (STYLE rule 1).
    if "IPython" in sys.modules:
        from nb_oauth.jupyter.display import notebook_view

        view = notebook_view()
        if view is not None:
            return view
    return ConsoleView()

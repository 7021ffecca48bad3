"""Connect and disconnect: the authorization code grant end to end, and RFC 7009 revocation.

``connect`` opens the authorization URL in a new browser tab and always shows it as a link too
(security.md#remote-kernels-and-browsers), catches the redirect on 127.0.0.1 (or takes the pasted
redirect URL on a remote kernel, security.md#remote-kernels-and-browsers), redeems the code with the
same ``redirect_uri`` and the PKCE verifier (security.md#state-pkce-and-the-redirect-uri), and
stores the tokens. ``disconnect`` revokes at the server when it can and always wipes locally
(security.md#disconnect). What the user sees goes through a :class:`ConsentView`, so the same flow
serves a terminal, a notebook and the widgets.
"""

from __future__ import annotations

import getpass
import json
import os
import threading
import warnings
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from nb_oauth.bearer import origin
from nb_oauth.consent.catcher import LoopbackCatcher
from nb_oauth.consent.device import device_sign_in
from nb_oauth.consent.par import pushed_if_needed
from nb_oauth.consent.request import AuthorizationRequest, IgnoredResponse
from nb_oauth.consent.server_callback import ServerCallback
from nb_oauth.consent.view import ConsentView, SignInLink
from nb_oauth.datasource import Datasource
from nb_oauth.errors import (
    CallbackTimeout,
    ClientConfigError,
    NbOAuthError,
    NbOAuthWarning,
    StateMismatch,
    StorageUnavailable,
    TokenEndpointError,
    TokenEndpointTimeout,
    TokenEndpointUnreachable,
    first_line,
)
from nb_oauth.grants.metadata import metadata_url, promises_iss
from nb_oauth.grants.token_requests import (
    authorization_code_request,
    read_token_response,
    revocation_request,
)
from nb_oauth.secret import Secret
from nb_oauth.token_http import get_document, send_token_request
from nb_oauth.token_state import RENEWAL_LOCK_TIMEOUT_S
from nb_oauth.tokens import TokenSet, human_duration

if TYPE_CHECKING:
    from nb_oauth.session import Session

__all__ = [
    "ConnectResult",
    "ConsentView",
    "DisconnectResult",
    "NarrowerScopes",
    "NoRefreshToken",
    "SignInLink",
    "connect",
    "disconnect",
    "open_in_new_tab",
]

DEFAULT_TIMEOUT_S = 300.0


class NarrowerScopes(NbOAuthWarning):
    """The provider granted fewer scopes than were asked for: the sign-in stands, some calls may
    be refused."""


class NoRefreshToken(NbOAuthWarning):
    """The provider issued no refresh token: the connection ends when the access token expires."""


def open_in_new_tab(url: str) -> bool:
    """Open ``url`` in a new tab of the system browser (honours ``BROWSER``); never raises.

    Returns ``False`` when no browser could be opened, as on a headless server
    (security.md#remote-kernels-and-browsers). Never an embedded view (RFC 8252 §8.12), and never
    a console browser that ``webbrowser`` would pick by itself on a machine without a display
    (``www-browser``, ``lynx``, ``w3m``, ``links``, ``elinks``): it would run on the kernel's
    terminal, where no one sees it, and hold the sign-in. A browser named in ``BROWSER`` is the
    user's choice and is used, whatever it is.
    """
    try:
        if os.environ.get("BROWSER"):
            return webbrowser.open(url, new=2)
        try:
            browser = webbrowser.get()
        except webbrowser.Error:
            return webbrowser.open(url, new=2)  # none registered: False (or a stand-in's answer)
        # Only the first choice: webbrowser.open would go on down its list when a graphical
        # opener gives up at once (xdg-open with no desktop), and end in a console browser.
        if _is_console_browser(browser):
            return False
        return browser.open(url, new=2)
    except webbrowser.Error:
        return False


#: The text-mode browsers Python's webbrowser registers when TERM is set.
_CONSOLE_BROWSERS = frozenset({"www-browser", "lynx", "w3m", "links", "elinks"})


def _is_console_browser(browser: webbrowser.BaseBrowser) -> bool:
    names = {getattr(browser, "name", ""), getattr(browser, "basename", "")}
    return any(os.path.basename(str(name)) in _CONSOLE_BROWSERS for name in names if name)


@dataclass(frozen=True)
class ConnectResult:
    """The outcome of a successful :func:`connect`; ``str()`` is the one-line status."""

    datasource: str
    expires_in: float | None
    has_refresh_token: bool
    granted_scopes: tuple[str, ...]
    #: False for a client-credentials datasource, for which connect does nothing.
    needs_consent: bool = True
    #: How the sign-in came back: "a device code", "the loopback redirect", "the Jupyter
    #: server's callback", "a pasted address"; empty when unknown.
    via: str = ""

    def __str__(self) -> str:
        if not self.needs_consent:
            return (
                f"{self.datasource} uses client credentials: no consent needed; its token is "
                "fetched on first use"
            )
        if self.expires_in is None:
            expiry = "no expiry given"
        else:
            expiry = f"access token valid for {human_duration(self.expires_in)}"
        refresh = "refresh token stored" if self.has_refresh_token else "NO refresh token"
        scopes = " ".join(self.granted_scopes) or "(none reported)"
        via = f" (signed in via {self.via})" if self.via else ""
        return f"Connected {self.datasource}: {expiry}, {refresh}; scopes: {scopes}{via}"


@dataclass(frozen=True)
class DisconnectResult:
    """The outcome of :func:`disconnect`; ``str()`` is the one-line status.

    ``revoked`` is ``True`` when the provider confirmed revocation (RFC 7009 §2.2), ``False``
    when it could not (the tokens may still be live until they expire), ``None`` when nothing was
    sent (no ``revocation_url``, or no tokens).
    """

    datasource: str
    revoked: bool | None
    detail: str

    def __str__(self) -> str:
        return f"Disconnected {self.datasource}: {self.detail}"


def connect(
    session: Session,
    name: str,
    *,
    view: ConsentView,
    paste: bool = False,
    open_browser: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    open_url: Callable[[str], bool] = open_in_new_tab,
    read_redirect: Callable[[str], str] = getpass.getpass,
    cancel: threading.Event | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ConnectResult:
    """Get the user's consent for datasource ``name`` and store its tokens.

    ``cancel`` lets another thread end the wait for the browser (the widgets run this function in
    a background thread): setting it raises ``SignInCancelled`` within 0.1 s, with the port
    closed and nothing stored. It is not consulted while reading a pasted URL.

    A ``device_code`` datasource signs in with the device grant instead
    (`nb_oauth.consent.device`): a user code to enter on any device, no redirect; ``sleep``
    replaces its wait between polls (tests pass one that moves a fake clock).

    Raises ``PortInUse`` (before any browser opens), ``AuthorizationDenied`` /
    ``AuthorizationError``, ``StateMismatch``, ``CallbackTimeout``, ``SignInCancelled``, the token
    endpoint's errors, and lets ``KeyboardInterrupt`` through; the catcher's port is closed on
    every path (security.md#loopback-catcher) and nothing is stored unless the whole flow succeeded.
    Warns with :class:`NoRefreshToken` when the provider sent no refresh token. Never logs or shows
    the code or a token.
    """
    ds = session.datasource(name)
    if ds.grant == "client_credentials":
        # A no-op for client credentials: the client fetches its token itself.
        return ConnectResult(
            datasource=name,
            expires_in=None,
            has_refresh_token=False,
            granted_scopes=(),
            needs_consent=False,
        )
    if ds.grant == "device_code":
        tokens = device_sign_in(
            session, name, view=view, open_url=open_url, open_browser=open_browser,
            timeout=timeout, cancel=cancel, sleep=sleep,
        )
        return _finish(session, ds, view, tokens, None, via="a device code")
    client_secret = session.store.load_secret(name)
    require_iss = _server_promises_iss(ds)
    # The path, in the order of the docs (security.md#the-server-callback): a redirect_uri that
    # ends in /nb-oauth/callback comes back through the Jupyter server, else the loopback catcher
    # (and the paste path when asked for).
    catcher: LoopbackCatcher | ServerCallback
    if ds.uses_server_callback:
        catcher = ServerCallback(ds.redirect_uri, timeout=timeout, datasource=name)
    else:
        catcher = LoopbackCatcher(ds.loopback_port)
    if paste:
        via = "a pasted address"
    elif ds.uses_server_callback:
        via = "the Jupyter server's callback"
    else:
        via = "the loopback redirect"
    with catcher:
        request = AuthorizationRequest(ds, catcher.redirect_uri, require_iss=require_iss)
        # RFC 9126: pushed first when the datasource or the server's metadata asks for it.
        request = pushed_if_needed(request, client_secret)
        catcher.expect(request)
        opened = open_browser and open_url(request.url)
        view.waiting(
            SignInLink(name, request.url, request.redirect_uri, timeout, paste, opened)
        )
        try:
            if paste:
                code = _code_from_paste(request, catcher, read_redirect)
            else:
                code = catcher.wait(timeout, cancel=cancel)
        except BaseException:
            view.ended()
            raise
    try:
        refetch = (lambda: session.discover(name)) if ds.metadata_fetched_at is not None else None
        tokens, api_base = _redeem(ds.name, request, client_secret, code, session.now(), refetch)
    except BaseException:
        view.ended()
        raise
    return _finish(session, ds, view, tokens, api_base, via=via)


def _finish(
    session: Session,
    ds: Datasource,
    view: ConsentView,
    tokens: TokenSet,
    api_base: str | None,
    *,
    via: str,
) -> ConnectResult:
    """Store a new sign-in's tokens, say so, and warn about what the provider left out."""
    name = ds.name
    try:
        _store_tokens(session, name, tokens)
    except BaseException:
        view.ended()
        raise
    if api_base is not None and api_base.rstrip("/") != (ds.base_url or "").rstrip("/"):
        # The provider named the API's root at sign-in (Salesforce instance_url, Zoho api_domain).
        # Read again: the sign-in may have saved endpoints found anew after a 404.
        session.save(session.datasource(name).replace(base_url=api_base))
    result = ConnectResult(
        datasource=name,
        expires_in=tokens.expires_in(session.now()),
        has_refresh_token=bool(tokens.refresh_token),
        granted_scopes=tokens.granted_scopes,
        via=via,
    )
    view.finished(str(result))
    missing = [scope for scope in ds.scopes if scope not in tokens.granted_scopes]
    if missing:
        warnings.warn(
            f"{name}: the provider granted fewer scopes than asked for; asked: "
            f"{' '.join(ds.scopes)}; granted: {' '.join(tokens.granted_scopes) or '(none)'}. "
            "Calls that need the others will be refused",
            NarrowerScopes,
            stacklevel=3,
        )
    if not tokens.refresh_token:
        warnings.warn(_no_refresh_token_advice(name), NoRefreshToken, stacklevel=3)
    return result


def _server_promises_iss(ds: Datasource) -> bool:
    """With ``issuer`` set, ask its metadata whether every response carries ``iss``
    (security.md#checking-the-authorization-response):
    then a response without one is refused. No metadata, or none reachable, promises nothing."""
    if ds.issuer is None:
        return False
    try:
        status, body = get_document(metadata_url(ds.issuer))
    except (httpx.HTTPError, NbOAuthError):
        return False
    return promises_iss(ds.issuer, status, body)


def _store_tokens(session: Session, name: str, tokens: TokenSet) -> None:
    """Store a new consent's tokens under the renewal lock, so that a kernel refreshing the old
    grant at the same moment cannot write its tokens over them (security.md#single-flight-renewal).
    The live auth is told
    after the lock is released: the auth takes its own lock first, then the store's."""
    lock = session.store.renewal_lock(name)
    if not lock.acquire(RENEWAL_LOCK_TIMEOUT_S):
        raise StorageUnavailable(
            f"another process has been renewing the token of {name!r} for "
            f"{RENEWAL_LOCK_TIMEOUT_S:g} s, so the new sign-in could not be stored",
            "connect again; if it persists, restart the other kernels using this datasource",
        )
    try:
        session.store.save_tokens(name, tokens)
    finally:
        lock.release()
    session.tokens_changed(name, tokens)


def _code_from_paste(
    request: AuthorizationRequest,
    catcher: LoopbackCatcher | ServerCallback,
    read_redirect: Callable[[str], str],
) -> Secret:
    """Ask for the redirected URL until a valid one arrives (remote kernels,
    security.md#remote-kernels-and-browsers).

    An empty answer checks whether the loopback catcher got the response after all (browser and
    kernel on one machine). The input is read without echo, so the code never lands in a cell's
    output or the notebook (security.md#notebooks-and-history).
    """
    prompt = (
        "Paste the address your browser was redirected to (it starts with "
        f"{request.redirect_uri}), or press Enter if that tab says 'Signed in': "
    )
    for _ in range(5):
        pasted = read_redirect(prompt).strip()
        try:
            if not pasted:
                return catcher.wait(timeout=0.5)
            return request.code_from_pasted_url(pasted)
        except (IgnoredResponse, StateMismatch, CallbackTimeout) as exc:
            prompt = f"That did not work ({first_line(exc)}). Try again: "
    raise StateMismatch()


def _redeem(
    name: str,
    request: AuthorizationRequest,
    client_secret: Secret | None,
    code: Secret,
    received_at: float,
    refetch: Callable[[], Datasource] | None = None,
) -> tuple[TokenSet, str | None]:
    """Exchange the code (RFC 6749 §4.1.3) with the same redirect_uri
    (security.md#state-pkce-and-the-redirect-uri) and verifier.

    Never retried: a code is single-use (RFC 6749 §10.5, security.md#renewal), so a lost answer
    means a new sign-in. The one exception: a 404 from a token endpoint that came from metadata
    (the code never reached a token endpoint), after which `refetch` fetches the metadata again
    and the code goes to the endpoint it names.
    """
    datasource = request.datasource
    for _attempt in (1, 2):
        token_request = authorization_code_request(
            datasource,
            client_secret,
            code=code,
            redirect_uri=request.redirect_uri,
            code_verifier=request.pkce.code_verifier,
            dpop_key=request.dpop_key,  # RFC 9449 §10: the key the code is bound to
        )
        where = origin(token_request.url) or token_request.url
        try:
            response = send_token_request(token_request)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise TokenEndpointUnreachable(where, problem, datasource=name) from None
        except (TokenEndpointError, TokenEndpointTimeout) as exc:
            # Say whose sign-in and which server, in the one line the user sees.
            exc.args = (f"Sign-in for {name} at {where}: {exc.args[0]}",)
            raise
        if response.status_code != 404 or refetch is None:
            break
        datasource, refetch = refetch(), None
    try:
        tokens = read_token_response(
            token_request,
            status_code=response.status_code,
            content_type=response.headers.get("Content-Type"),
            body=response.content,
            now=received_at,
            datasource=name,
        )
    except ClientConfigError as exc:
        exc.note_saved_secret(client_secret is not None, datasource.client_auth)
        raise
    return tokens, _api_base(datasource, response.content)


def _api_base(ds: Datasource, body: bytes) -> str | None:
    """The API root the token response names, for a provider whose preset says it does; only
    an http(s) URL (the datasource's own checks then require https off loopback)."""
    member = ds.quirks.api_base_member
    if member is None:
        return None
    try:
        value = json.loads(body).get(member)
    except (ValueError, AttributeError):
        return None
    if not isinstance(value, str):
        return None
    # Zoho gives a bare URL; some give a host only: an origin is required either way.
    return value if origin(value) else None


def disconnect(session: Session, name: str) -> DisconnectResult:
    """Revoke ``name``'s tokens at the provider when possible and always wipe them locally.

    RFC 7009 §2.1: the refresh token first (which also ends its access tokens on most servers),
    then the access token. A 200 counts as success even for an already invalid token (§2.2); a
    503, another error or a network failure means the tokens may still be live (§2.2.1), which
    the result says. The local tokens are deleted in every case (security.md#disconnect); the client
    secret and the datasource stay. Never raises for a failed revocation.
    """
    ds = session.datasource(name)
    tokens = session.store.load_tokens(name)
    try:
        revoked, detail = _revoke(session, name, tokens)
    finally:
        session.store.delete_tokens(name)
        session.tokens_changed(name, None)
    return DisconnectResult(datasource=ds.name, revoked=revoked, detail=detail)


def _revoke(session: Session, name: str, tokens: TokenSet | None) -> tuple[bool | None, str]:
    ds = session.datasource(name)
    if tokens is None:
        return None, "there were no tokens to remove"
    if not ds.revocation_url:
        return None, (
            "tokens removed here. No revocation_url is set, so the provider was not told: they "
            "stay valid there until they expire (revoke the app's access in the provider's "
            "account settings to end them now)"
        )
    secret = session.store.load_secret(name)
    pending = [(tokens.refresh_token, "refresh_token"), (tokens.access_token, "access_token")]
    for token, hint in pending:
        if not token:
            continue
        try:
            response = send_token_request(revocation_request(ds, secret, token, hint))
        except (httpx.HTTPError, NbOAuthError) as exc:
            return False, _not_revoked(type(exc).__name__)
        if response.status_code != 200:
            return False, _not_revoked(f"HTTP {response.status_code}")
    return True, "tokens revoked at the provider and removed here"


def _not_revoked(why: str) -> str:
    return (
        f"tokens removed here, but the provider did not confirm revocation ({why}), so they may "
        "still be live until they expire"
    )


def _no_refresh_token_advice(name: str) -> str:
    return (
        f"{name}: the provider issued no refresh token, so this connection ends when the access "
        f"token expires and you will have to run nb_oauth.connect({name!r}) again. Many providers "
        "issue one only when asked: add the 'offline_access' scope (OpenID Connect, Microsoft, "
        "Okta, Auth0), or auth_params access_type=offline and prompt=consent (Google)"
    )

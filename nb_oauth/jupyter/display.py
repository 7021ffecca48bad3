"""Rich display in a notebook: the consent link that is replaced when the sign-in ends, datasource
status, and ``%%api`` responses. Nothing here ever holds or shows a secret value."""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from IPython.core.getipython import get_ipython
from IPython.display import HTML, DisplayHandle, display

from nb_oauth.consent.server_callback import redirect_advice
from nb_oauth.fields import FIELDS
from nb_oauth.tokens import human_duration

if TYPE_CHECKING:
    from nb_oauth.consent.flow import SignInLink
    from nb_oauth.datasource import Datasource
    from nb_oauth.session import Session
    from nb_oauth.tokens import TokenSet

__all__ = [
    "DatasourceList",
    "DatasourceStatus",
    "HttpErrorBlock",
    "JsonDict",
    "JsonList",
    "LINK_STYLE",
    "missing_base_url_hint",
    "NotebookConsentView",
    "notebook_view",
    "sign_in_html",
    "TextBody",
]


def notebook_view() -> NotebookConsentView | None:
    """A :class:`NotebookConsentView` when running in a Jupyter kernel, else ``None``."""
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return NotebookConsentView()


class NotebookConsentView:
    """Shows the sign-in link (``target="_blank"``: a new tab) in the cell output with a
    countdown, and replaces it with the outcome, so the saved notebook keeps no sign-in URL
    (security.md#remote-kernels-and-browsers). A failure empties it: the magic or the caller
    reports the error, once.

    The cell blocks while it waits, so the kernel cannot process a button click: the way to
    cancel here is the kernel's interrupt, which the text says. (The widgets run the sign-in in
    a thread instead, and have a Cancel button.)
    """

    def __init__(self, *, now: Callable[[], float] = time.monotonic, tick: float = 1.0) -> None:
        self._handle: DisplayHandle | None = None
        self._now = now
        self._tick = tick
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _show(self, markup: str, *, stop: bool = False) -> None:
        # One lock for the countdown's check and its update, so that a tick can never write
        # over the outcome.
        with self._lock:
            if stop:
                self._stop.set()
            if self._handle is None:
                self._handle = display(HTML(markup), display_id=True)
            else:
                self._handle.update(HTML(markup))

    def waiting(self, sign_in: SignInLink) -> None:
        link = sign_in_html(sign_in)
        deadline = self._now() + sign_in.timeout
        self._stop = stop = threading.Event()
        self._show(link + _countdown_html(deadline - self._now()))
        threading.Thread(
            target=self._count_down, args=(link, deadline, stop), name="nb_oauth-countdown",
            daemon=True,
        ).start()

    def _count_down(self, link: str, deadline: float, stop: threading.Event) -> None:
        # Its own thread: the cell's thread is blocked waiting for the sign-in meanwhile.
        while not stop.wait(self._tick):
            with self._lock:
                if stop.is_set():
                    return
                assert self._handle is not None  # waiting() displayed it
                self._handle.update(HTML(link + _countdown_html(deadline - self._now())))

    def finished(self, message: str) -> None:
        self._show(f"<span>{html.escape(message)}</span>", stop=True)

    def ended(self) -> None:
        self._show("", stop=True)


def _countdown_html(left: float) -> str:
    seconds = max(0, round(left))
    return (
        f"<br><small>Waiting: {seconds // 60}:{seconds % 60:02d} left. To cancel, interrupt the "
        "kernel (&#9632;).</small>"
    )


#: Links in widget HTML are not styled as links by JupyterLab (only rendered outputs are), so
#: the sign-in link carries the theme's link colour itself.
LINK_STYLE = "color:var(--jp-content-link-color,#1976d2);text-decoration:underline"


def sign_in_html(sign_in: SignInLink) -> str:
    """The sign-in link, how long the wait lasts, and what to do when no browser opened; for a
    device sign-in, the user code large, and where to enter it."""
    if sign_in.is_device_code:
        return _device_code_html(sign_in)
    if sign_in.paste:
        how = "then paste the address it redirects to"
    else:
        how = f"waiting up to {sign_in.timeout:g} s"
    markup = (
        f'<a href="{html.escape(sign_in.url, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer" style="{LINK_STYLE}"><b>Open the sign-in page</b></a> '
        f"({html.escape(how)})"
    )
    if not sign_in.opened:
        markup += "<br>The kernel could not open a browser: click the link."
        if not sign_in.paste and not sign_in.server_callback:
            markup += (
                " If the kernel runs on another machine, interrupt and run "
                f"<code>%datasource connect {html.escape(sign_in.datasource)} --paste</code>."
            )
    how_matched = (
        "the Jupyter server's callback, registered exactly" if sign_in.server_callback
        else "any loopback port, RFC 8252"
    )
    return markup + (
        "<br><small>Redirect URI to register at the provider: "
        f"<code>{html.escape(sign_in.redirect_uri)}</code> ({how_matched})</small>"
    )


def _device_code_html(sign_in: SignInLink) -> str:
    short = html.escape(sign_in.verification_uri or sign_in.url, quote=True)
    code = html.escape(sign_in.user_code or "")
    opened = (
        "A browser tab with the code filled in was opened."
        if sign_in.opened
        else "Or open the link below, which fills the code in."
    )
    return (
        f"To sign in <b>{html.escape(sign_in.datasource)}</b>, open "
        f'<a href="{short}" target="_blank" rel="noopener noreferrer" style="{LINK_STYLE}">'
        f"{short}</a> on any device and enter this code:"
        '<div style="font-size:2em;font-family:monospace;letter-spacing:.15em;margin:.3em 0">'
        f"{code}</div>"
        f'{opened} <a href="{html.escape(sign_in.url, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer" style="{LINK_STYLE}"><b>Open the sign-in page</b></a>'
    )


# -- datasource status (%datasource show / add / edit / connect) --------------------------------


def missing_base_url_hint(ds: Datasource) -> str | None:
    """Said after saving a datasource that API calls cannot use yet, else ``None``."""
    if ds.resource_origins:
        return None
    return (
        f"{ds.name} has no base URL, so API calls cannot use it yet (its token is only ever sent "
        f"there): set the API's root with %datasource edit {ds.name} --base-url URL"
    )


#: What `show` lists, in the field table's order: every field that is not secret (the name is the
#: title).
_SHOWN_FIELDS = tuple(f.name for f in FIELDS if not f.secret and f.name != "name")


@dataclass(frozen=True)
class DatasourceStatus:
    """A datasource's settings and token status, as text and HTML. Holds no secret: only whether
    a client secret and a refresh token exist, never their values
    (security.md#errors-logs-and-reprs)."""

    name: str
    settings: tuple[tuple[str, str], ...]
    requested_scopes: tuple[str, ...]
    connected: bool
    expires_in: float | None
    granted_scopes: tuple[str, ...]
    has_refresh_token: bool
    has_client_secret: bool
    secret_location: str
    redirect_uri: str | None
    #: Seconds since the endpoints were taken from metadata, or None when given by hand.
    metadata_age: float | None = None
    #: How the redirect URI is matched (any loopback port, or exactly).
    redirect_note: str | None = None
    #: The server-callback URI the environment suggests (JupyterHub, NB_OAUTH_PUBLIC_URL), and why.
    suggested_redirect_uri: str | None = None
    suggestion_reason: str | None = None
    #: The RFC 7638 thumbprint of the private key (private_key_jwt), never the key itself.
    key_thumbprint: str | None = None
    #: The RFC 7638 thumbprint of the DPoP key the tokens are bound to (RFC 9449), if any.
    dpop_thumbprint: str | None = None

    @classmethod
    def of(cls, session: Session, name: str) -> DatasourceStatus:
        ds = session.datasource(name)
        tokens = session.store.load_tokens(name)
        settings = tuple(
            (f, _shown(getattr(ds, f))) for f in _SHOWN_FIELDS if getattr(ds, f) not in
            (None, (), {}, "")
        )
        advice = redirect_advice(ds) if ds.grant == "authorization_code" else None
        return cls(
            name=name,
            settings=settings,
            requested_scopes=tuple(ds.scopes),
            connected=tokens is not None,
            expires_in=None if tokens is None else tokens.expires_in(session.now()),
            granted_scopes=() if tokens is None else tokens.granted_scopes,
            has_refresh_token=bool(tokens and tokens.refresh_token),
            has_client_secret=session.store.load_secret(name) is not None,
            secret_location=session.store.secret_location(name),
            metadata_age=None if ds.metadata_fetched_at is None
            else max(0.0, session.now() - ds.metadata_fetched_at),
            redirect_uri=None if advice is None else advice.register,
            redirect_note=None if advice is None else advice.note,
            suggested_redirect_uri=None if advice is None else advice.suggested,
            suggestion_reason=None if advice is None else advice.reason,
            key_thumbprint=_key_thumbprint(session, ds),
            dpop_thumbprint=_dpop_thumbprint(tokens, ds.name),
        )

    def rows(self) -> list[tuple[str, str]]:
        if not self.connected:
            token = "not connected" + (
                f" (run %datasource connect {self.name})" if self.redirect_uri else ""
            )
        elif self.expires_in is None:
            token = "connected; expiry unknown (renewed when the API says 401)"
        elif self.expires_in <= 0:
            token = "connected; access token expired (renewed on the next call)"
        else:
            token = f"connected; access token expires in {human_duration(self.expires_in)}"
        rows = [("token", token)]
        if self.connected:
            rows.append(("refresh token", "stored" if self.has_refresh_token else "none"))
            rows.append(("granted scopes", " ".join(self.granted_scopes) or "(not reported)"))
        rows.append(("requested scopes", " ".join(self.requested_scopes) or "(none)"))
        if self.key_thumbprint is not None:
            rows.append(("private key", f"stored in {self.secret_location}; RFC 7638 "
                         f"thumbprint {self.key_thumbprint}" if self.key_thumbprint else "none"))
        else:
            rows.append(("client secret", f"stored in {self.secret_location}"
                         if self.has_client_secret else "none"))
        if self.dpop_thumbprint:
            rows.append(("DPoP key", f"thumbprint {self.dpop_thumbprint}; the tokens are bound "
                         "to it (RFC 9449)"))
        if self.redirect_uri:
            note = f" ({self.redirect_note})" if self.redirect_note else ""
            rows.append(("redirect URI to register", self.redirect_uri + note))
        if self.suggested_redirect_uri:
            rows.append(
                ("suggested redirect URI",
                 f"{self.suggested_redirect_uri} ({self.suggestion_reason})")
            )
        if self.metadata_age is not None:
            rows.append(("endpoints", "from the metadata, fetched "
                         f"{human_duration(self.metadata_age)} ago (%datasource discover "
                         f"{self.name} fetches it again)"))
        rows += list(self.settings)
        return rows

    def __str__(self) -> str:
        width = max(len(key) for key, _ in self.rows())
        lines = [f"Datasource {self.name}"]
        lines += [f"  {key:<{width}}  {value}" for key, value in self.rows()]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self.rows()
        )
        return f"<b>Datasource {html.escape(self.name)}</b><table>{cells}</table>"


@dataclass(frozen=True)
class DatasourceList:
    """``%datasource list``: one row per saved datasource."""

    rows: tuple[tuple[str, str, str, bool], ...]  # name, grant, status, default
    #: Where their client secrets and tokens are kept (security.md#secret-storage).
    secrets: str = ""

    @classmethod
    def of(cls, session: Session, *, default: str | None) -> DatasourceList:
        rows = []
        where: dict[str, list[str]] = {}
        for name in session.names():
            ds = session.datasource(name)
            connected = session.store.load_tokens(name) is not None
            rows.append((name, ds.grant, "connected" if connected else "not connected",
                         name == default))
            where.setdefault(session.store.secret_location(name), []).append(name)
        if len(where) == 1:
            secrets = f"Secrets are kept in {next(iter(where))}"
        else:
            secrets = "Secrets are kept in " + "; ".join(
                f"{place} ({', '.join(names)})" for place, names in where.items()
            )
        return cls(tuple(rows), secrets if rows else "")

    def __str__(self) -> str:
        if not self.rows:
            return "No datasources yet: %datasource add NAME --token-url URL --client-id ID"
        lines = [
            f"{'*' if default else ' '} {name:<20} {grant:<20} {status}"
            for name, grant, status, default in self.rows
        ]
        return "\n".join([*lines, self.secrets] if self.secrets else lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


# -- %%api responses ----------------------------------------------------------------------------


class JsonDict(dict):  # type: ignore[type-arg]
    """A JSON object from ``%%api``: a plain ``dict`` to code (so ``_["items"]`` works), shown
    as a collapsible JSON tree in JupyterLab (``application/json``)."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return _json_bundle(self)


class JsonList(list):  # type: ignore[type-arg]
    """A JSON array from ``%%api``; see :class:`JsonDict`."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return _json_bundle(self)


def _json_bundle(data: object) -> dict[str, Any]:
    import pprint

    return {
        "application/json": json.loads(json.dumps(data)),
        "text/plain": pprint.pformat(data, sort_dicts=False, width=100),
    }


class TextBody(str):
    """A text response from ``%%api``: a ``str`` to code, shown as the text itself."""

    __slots__ = ()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


@dataclass(frozen=True)
class HttpErrorBlock:
    """A 4xx/5xx from ``%%api`` as one readable block: status, reason, redacted URL, a short
    redacted excerpt of the body. Never a traceback, never a token
    (security.md#errors-logs-and-reprs)."""

    method: str
    status_code: int
    reason: str
    url: str
    excerpt: str

    def __str__(self) -> str:
        head = f"HTTP {self.status_code} {self.reason} — {self.method} {self.url}"
        return head + (f"\n{self.excerpt}" if self.excerpt else "")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        body = f"<pre>{html.escape(self.excerpt)}</pre>" if self.excerpt else ""
        return (
            "<div style='border-left:4px solid #c33;padding:4px 8px'>"
            f"<b>HTTP {self.status_code} {html.escape(self.reason)}</b> "
            f"<code>{html.escape(self.method)} {html.escape(self.url)}</code>{body}</div>"
        )


def _shown(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _key_thumbprint(session: Session, ds: Datasource) -> str | None:
    """For private_key_jwt: the saved key's RFC 7638 thumbprint ("" when none is saved, or it
    cannot be read); `None` for the other methods."""
    if ds.client_auth != "private_key_jwt":
        return None
    pem = session.store.load_secret(ds.name)
    if pem is None:
        return ""
    from nb_oauth.errors import ConfigError
    from nb_oauth.grants.signing import load_private_key

    try:
        return load_private_key(pem, datasource=ds.name).thumbprint
    except ConfigError:
        return ""


def _dpop_thumbprint(tokens: TokenSet | None, name: str) -> str | None:
    """The thumbprint of the DPoP key stored with the tokens; `None` without one."""
    if tokens is None or tokens.dpop_key is None:
        return None
    from nb_oauth.errors import ConfigError
    from nb_oauth.grants.dpop import load_dpop_key

    try:
        return load_dpop_key(tokens.dpop_key, datasource=name).thumbprint
    except ConfigError:
        return None

"""The kernel's side of the server callback: the sign-in comes back through the Jupyter server.

When a datasource's ``redirect_uri`` ends in ``/nb-oauth/callback``, the provider sends the browser
to the Jupyter server (or JupyterHub, which passes it on to the user's server), whose extension
``nb_oauth`` hands the redirect's query to this kernel through private files
(``nb_oauth.handover``, docs/security.md#the-server-callback). :class:`ServerCallback` has the
loopback catcher's interface and runs the same validator on what arrives
(``AuthorizationRequest.check_response``: state, ``iss``, error; the code is then redeemed with
the PKCE verifier, once).

Also here: which redirect URI to register, judged from the environment the kernel runs in
(:func:`redirect_advice`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from nb_oauth.consent.request import AuthorizationRequest, IgnoredResponse
from nb_oauth.datasource import SERVER_CALLBACK_PATH, Datasource, loopback_redirect_uri
from nb_oauth.errors import (
    CallbackTimeout,
    NbOAuthError,
    SignInCancelled,
    StateMismatch,
    first_line,
)
from nb_oauth.handover import (
    Handover,
    HandoverUnsafe,
    Outcome,
    PendingSignIn,
    handover_folder,
)
from nb_oauth.secret import Secret

__all__ = ["RedirectAdvice", "ServerCallback", "redirect_advice", "suggested_server_uri"]

#: How often the waiting kernel looks for the response (and feels an interrupt or a cancel).
_WAIT_SLICE = 0.1


class ServerCallback:
    """Receive one authorization response through the Jupyter server extension.

    The loopback catcher's interface and rules: entering makes sure the private folder exists,
    :meth:`expect` registers the sign-in (the SHA-256 of its ``state`` and when it expires) and
    starts a thread that takes the response as soon as the server delivers it, checks it and
    records the verdict the browser's page shows (even while the kernel is still opening the
    browser); :meth:`wait` blocks until the response, an error, the deadline, a cancel or an
    interrupt; leaving always withdraws the sign-in, so that no pending file and no response stays
    behind::

        with ServerCallback(ds.redirect_uri, timeout=300) as callback:
            request = AuthorizationRequest(ds, callback.redirect_uri)
            callback.expect(request)
            open_browser(request.url)
            code = callback.wait(timeout=300)
    """

    def __init__(
        self,
        redirect_uri: str,
        *,
        timeout: float,
        datasource: str | None = None,
        runtime_dir: Path | None = None,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.redirect_uri = redirect_uri
        self._timeout = timeout
        self._datasource = datasource
        self._runtime_dir = runtime_dir
        self._now = now
        self._wall = wall
        self._handover: Handover | None = None
        self._request: AuthorizationRequest | None = None
        self._pending: PendingSignIn | None = None
        self._started = 0.0
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._code: Secret | None = None
        self._error: NbOAuthError | None = None

    def __enter__(self) -> ServerCallback:
        try:
            folder = handover_folder(self._runtime_dir)
        except HandoverUnsafe as exc:
            if self._datasource:
                exc.args = (f"Sign-in for {self._datasource}: {exc.args[0]}",)
            raise
        self._handover = Handover(folder, wall=self._wall)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(Outcome.EXPIRED if exc_type is CallbackTimeout else Outcome.CANCELLED)

    def close(self, outcome: Outcome = Outcome.CANCELLED) -> None:
        """Stop taking responses and withdraw the sign-in (a later callback is told it ended);
        safe to call twice."""
        with self._lock:
            self._done.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.close(outcome)

    def expect(self, request: AuthorizationRequest) -> None:
        """Register ``request`` (whose redirect URI must be this callback's) with the server."""
        if request.redirect_uri != self.redirect_uri:
            raise ValueError("the request's redirect_uri is not this callback's")
        assert self._handover is not None, "use ServerCallback as a context manager"
        self._request = request
        self._started = self._wall()
        self._pending = self._handover.register(
            request.state, request.datasource.name, self._started + self._timeout
        )
        self._thread = threading.Thread(
            target=self._take, name="nb_oauth-server-callback", daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float, *, cancel: threading.Event | None = None) -> Secret:
        """Block until a valid response arrives; return its authorization code.

        The loopback catcher's rules: :class:`AuthorizationError` for an error response,
        :class:`CallbackTimeout` at the deadline (:class:`StateMismatch` when responses with an
        unknown ``state`` reached the server meanwhile), :class:`SignInCancelled` once ``cancel``
        is set (also when a response arrived in the same slice: nothing is redeemed), and
        ``KeyboardInterrupt`` let through; a malformed response is recorded for the page and the
        wait goes on. One response per sign-in: once it is taken the pending file is gone, so a
        replay finds nothing to claim. Waits in short slices, so that an interrupt is felt at once.
        """
        request = self._request
        assert request is not None, "call expect() first"
        name = request.datasource.name
        deadline = self._now() + timeout
        while not self._done.wait(_WAIT_SLICE):
            if cancel is not None and cancel.is_set():
                break
            if self._now() >= deadline:
                with self._lock:
                    self._done.set()  # the thread takes nothing more
                    decided = self._code is not None or self._error is not None
                if not decided:
                    self.close(Outcome.EXPIRED)
                    handover = self._handover
                    if handover is not None and handover.wrong_state_since(self._started):
                        raise StateMismatch()
                    raise _timeout(timeout, name)
        with self._lock:
            if cancel is not None and cancel.is_set():
                raise SignInCancelled(name)
            if self._error is not None:
                raise self._error
            if self._code is None:
                raise _timeout(timeout, name)
            return self._code

    def _take(self) -> None:
        """The thread: take the delivered response, check it, record the verdict."""
        pending, request = self._pending, self._request
        assert pending is not None and request is not None
        while not self._done.wait(_WAIT_SLICE):
            with self._lock:
                if self._done.is_set():
                    return
                try:
                    query = pending.take_response()
                except OSError:
                    continue
                if query is not None and self._check(pending, request, query):
                    self._done.set()
                    return

    def _check(self, pending: PendingSignIn, request: AuthorizationRequest, query: str) -> bool:
        """Run the one validator on ``query``; True when the sign-in is decided."""
        name = request.datasource.name
        try:
            self._code = request.check_response(query)
        except IgnoredResponse as exc:
            # Malformed, or (a hash collision) another state: the page says why, the wait goes on.
            pending.ignored(first_line(exc))
            return False
        except NbOAuthError as exc:
            self._error = exc
            pending.finish(Outcome.FAILED, first_line(exc))
            return True
        pending.finish(Outcome.SIGNED_IN, f"nb_oauth received the sign-in for {name}")
        return True


def _timeout(timeout: float, name: str) -> CallbackTimeout:
    error = CallbackTimeout(timeout, datasource=name)
    error.args = (
        f"No authorization response reached the Jupyter server's callback within {timeout:g} s; "
        f"connect {name} again and approve on the provider's page (check that the provider "
        "sends the browser back to the redirect_uri this datasource names)",
    )
    return error


# -- which redirect URI to register --------------------------------------------------------------


@dataclass(frozen=True)
class RedirectAdvice:
    """The redirect URI to register at the provider for a datasource, in this environment.

    ``register`` is the URI the datasource uses now (with ``note`` on how it is matched);
    ``suggested`` a server-callback URI worth switching to when the kernel runs where the
    browser cannot reach its loopback address (JupyterHub, ``NB_OAUTH_PUBLIC_URL``), with
    ``reason``.
    """

    register: str
    note: str
    suggested: str | None = None
    reason: str | None = None


_ANY_PORT = "any port on 127.0.0.1 is accepted by RFC 8252 loopback rules"


def redirect_advice(ds: Datasource, environ: Mapping[str, str] | None = None) -> RedirectAdvice:
    """What to register for ``ds``: its own server-callback URI as it is, else the loopback URI,
    plus the server-callback URI this environment suggests (JupyterHub:
    ``JUPYTERHUB_SERVICE_PREFIX`` with ``JUPYTERHUB_PUBLIC_HUB_URL``, ``JUPYTERHUB_PUBLIC_URL``
    or ``JUPYTERHUB_HOST``; otherwise ``NB_OAUTH_PUBLIC_URL``)."""
    env = os.environ if environ is None else environ
    suggested, reason = suggested_server_uri(env)
    if ds.uses_server_callback:
        note = "the Jupyter server's callback; register it exactly"
        if suggested is not None and suggested != ds.redirect_uri:
            return RedirectAdvice(ds.redirect_uri, note, suggested, reason)
        return RedirectAdvice(ds.redirect_uri, note)
    register = loopback_redirect_uri(ds.loopback_port)
    note = _ANY_PORT if not ds.loopback_port else "this exact port"
    if suggested is None:
        return RedirectAdvice(register, note)
    fix = f"%datasource edit {ds.name} --redirect-uri {suggested}"
    return RedirectAdvice(register, note, suggested, f"{reason}: register it and run {fix}")


def suggested_server_uri(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The server-callback URI this environment suggests, and why; ``(None, None)`` when it
    suggests none (a local Jupyter: the loopback URI is the one to register)."""
    callback = SERVER_CALLBACK_PATH.lstrip("/")
    if env.get("JUPYTERHUB_SERVICE_PREFIX"):
        why = "this kernel runs on JupyterHub, where the browser cannot reach its loopback address"
        hub_url = env.get("JUPYTERHUB_PUBLIC_HUB_URL", "")
        if hub_url:
            return f"{hub_url.rstrip('/')}/user-redirect/{callback}", why
        base = "/" + env.get("JUPYTERHUB_BASE_URL", "/").strip("/")
        base = base.rstrip("/") + "/"
        public = env.get("JUPYTERHUB_PUBLIC_URL", "") or env.get("JUPYTERHUB_HOST", "")
        parts = urlsplit(public)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}{base}hub/user-redirect/{callback}", why
        return (
            f"https://<your hub>{base}hub/user-redirect/{callback}",
            why + " (put your hub's address in place of <your hub>)",
        )
    public_url = env.get("NB_OAUTH_PUBLIC_URL", "")
    if public_url:
        return (
            f"{public_url.rstrip('/')}/{callback}",
            "NB_OAUTH_PUBLIC_URL names the address the browser reaches this Jupyter server at",
        )
    return None, None

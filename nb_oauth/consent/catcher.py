"""The loopback catcher: a one-shot HTTP server on 127.0.0.1 that receives the authorization
response (RFC 8252 §7.3) and hands its code to the waiting kernel.

What it promises (docs/security.md#loopback-catcher): loopback IP literal only, ephemeral port by
default, a busy fixed port fails before any browser opens, exact path, strays ignored, wrong
``state`` answered with 400 while the wait goes on, DNS-rebinding ``Host`` check, a static escaped
landing page with no-store/no-referrer, one accepted response, a deadline, Ctrl-C / kernel interrupt
honoured, the port closed on every exit path, and no access log on stderr.
"""

from __future__ import annotations

import errno
import html
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from nb_oauth.consent.request import AuthorizationRequest, IgnoredResponse, WrongState
from nb_oauth.datasource import CALLBACK_PATH, loopback_redirect_uri
from nb_oauth.errors import (
    CallbackTimeout,
    NbOAuthError,
    PortInUse,
    SignInCancelled,
    StateMismatch,
)
from nb_oauth.redact import redact_url
from nb_oauth.secret import Secret

__all__ = ["CALLBACK_PATH", "LoopbackCatcher"]

log = logging.getLogger("nb_oauth.consent")


#: How often the waiting kernel thread wakes up, so that "Interrupt kernel" is felt at once.
_WAIT_SLICE = 0.1

_PAGE_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
)


class LoopbackCatcher:
    """Receive one authorization response for ``request_for(redirect_uri)``.

    Use as a context manager: entering binds the port (raising :class:`PortInUse` for a busy fixed
    port, before anything is opened), :meth:`wait` blocks until the response, an error, the
    deadline or an interrupt, and leaving always closes the port::

        with LoopbackCatcher(port=0) as catcher:
            request = AuthorizationRequest(ds, catcher.redirect_uri)
            catcher.expect(request)
            open_browser(request.url)
            code = catcher.wait(timeout=300)
    """

    def __init__(self, port: int = 0, *, now: Callable[[], float] = time.monotonic) -> None:
        self._port = port
        self._now = now
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._request: AuthorizationRequest | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._code: Secret | None = None
        self._error: NbOAuthError | None = None
        self._saw_wrong_state = False
        self.redirect_uri = ""

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> LoopbackCatcher:
        self._server = _bind(self._port, self)
        host, port = str(self._server.server_address[0]), int(self._server.server_address[1])
        self.redirect_uri = loopback_redirect_uri(port, ipv6=":" in host)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _WAIT_SLICE},
            name=f"nb_oauth-catcher-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and release the port (RFC 8252 §8.3); safe to call more than once."""
        self._done.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        return int(urlsplit(self.redirect_uri).port or 0)

    # -- the flow --------------------------------------------------------------------------------

    def expect(self, request: AuthorizationRequest) -> None:
        """Accept responses for ``request`` (whose redirect URI must be this catcher's)."""
        if request.redirect_uri != self.redirect_uri:
            raise ValueError("the request's redirect_uri is not this catcher's")
        self._request = request

    def wait(self, timeout: float, *, cancel: threading.Event | None = None) -> Secret:
        """Block until a valid response arrives; return its authorization code.

        Raises the response's :class:`AuthorizationError`, :class:`CallbackTimeout` at the
        deadline (:class:`StateMismatch` instead when only responses with a wrong ``state``
        arrived, security.md#state-pkce-and-the-redirect-uri), :class:`SignInCancelled` once
        ``cancel`` is set (also when a response arrived in the same slice: cancelled means nothing
        is redeemed), and lets
        ``KeyboardInterrupt`` through. Waits in short slices so that a kernel interrupt or a
        cancel is honoured at once (security.md#loopback-catcher). The caller closes the catcher.
        """
        deadline = self._now() + timeout
        while not self._done.wait(_WAIT_SLICE):
            if cancel is not None and cancel.is_set():
                break
            if self._now() >= deadline:
                with self._lock:
                    self._done.set()  # late responses now get "this sign-in is over"
                    if self._code is None and self._error is None:
                        if self._saw_wrong_state:
                            raise StateMismatch()
                        raise CallbackTimeout(timeout, datasource=self._datasource_name())
        with self._lock:
            if cancel is not None and cancel.is_set():
                self._done.set()  # a late browser tab is told "this sign-in is over"
                raise SignInCancelled(self._datasource_name())
            if self._error is not None:
                raise self._error
            if self._code is None:
                raise CallbackTimeout(timeout, datasource=self._datasource_name())
            return self._code

    def _datasource_name(self) -> str | None:
        return self._request.datasource.name if self._request else None

    # -- called by the server thread -------------------------------------------------------------

    def _respond(self, host: str | None, target: str) -> tuple[int, str, str]:
        """Decide on one GET: returns (status, page title, page text). Never raises."""
        expected_hosts = {f"127.0.0.1:{self.port}", f"[::1]:{self.port}"}
        if host not in expected_hosts:
            # security.md#loopback-catcher: a page on another origin that rebinds its DNS to
            # 127.0.0.1 gets nothing.
            return 403, "Forbidden", "This address only answers the sign-in redirect."
        url = urlsplit(target)
        if url.path != CALLBACK_PATH:
            # security.md#loopback-catcher: favicon, prefetch and stray requests neither consume nor
            # end the flow.
            return 404, "Not found", "Nothing here."
        with self._lock:
            if self._done.is_set() or self._request is None:
                # security.md#loopback-catcher: one response per sign-in; a reload or replay changes
                # nothing.
                return 410, "Sign-in already finished", "You can close this tab."
            try:
                self._code = self._request.check_response(url.query)
            except WrongState:
                self._saw_wrong_state = True
                return 400, "Not this sign-in", _WRONG_STATE
            except IgnoredResponse as exc:
                return 400, "Sign-in response not understood", str(exc)
            except NbOAuthError as exc:
                self._error = exc
                self._done.set()
                return 400, "Sign-in failed", f"{exc}. You can close this tab."
            self._done.set()
        name = self._request.datasource.name
        return 200, "Signed in", f"nb_oauth received the sign-in for {name}. Close this tab."


_WRONG_STATE = (
    "This response does not belong to the sign-in the notebook is waiting for, so it was ignored. "
    "Finish the sign-in in the tab the notebook opened."
)


class _Handler(BaseHTTPRequestHandler):
    server: _CatcherServer
    # A browser's speculative connection that never sends a request must not hold a thread long.
    timeout = 10

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status, title, text = self.server.catcher._respond(self.headers.get("Host"), self.path)
        body = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif'>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
        ).encode()
        self.send_response(status)
        for name, value in _PAGE_HEADERS:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        # security.md#errors-logs-and-reprs: the request line carries the code and state; never
        # print it to stderr.
        log.debug("catcher: %s", redact_url(self.path))


class _CatcherServer(ThreadingHTTPServer):
    daemon_threads = True
    # security.md#loopback-catcher: on Windows SO_REUSEADDR lets a second server bind the same port
    # and steal callbacks.
    allow_reuse_address = os.name != "nt"

    def __init__(self, address: tuple[str, int], catcher: LoopbackCatcher) -> None:
        self.catcher = catcher
        super().__init__(address, _Handler)


class _CatcherServer6(_CatcherServer):
    address_family = socket.AF_INET6


def _bind(port: int, catcher: LoopbackCatcher) -> _CatcherServer:
    """Bind 127.0.0.1 (RFC 8252 §8.3: loopback only, never all interfaces), else ``[::1]``."""
    try:
        return _CatcherServer(("127.0.0.1", port), catcher)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port) from None
        ipv4_error = exc
    try:
        # security.md#loopback-catcher: no IPv4 loopback (rare containers): fall back to the IPv6
        # literal.
        return _CatcherServer6(("::1", port), catcher)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port) from None
        raise ipv4_error from None

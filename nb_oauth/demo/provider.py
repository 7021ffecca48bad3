"""Run the demo authorization server and its protected API on 127.0.0.1, in background threads."""

from __future__ import annotations

import html
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from nb_oauth.errors import PortInUse

from .api import create_api_app
from .authorization_server import create_authorization_app
from .settings import DemoSettings
from .store import DemoClient, DemoStore, demo_clients

__all__ = ["DemoProvider"]

log = logging.getLogger("nb_oauth.demo")

HOST = "127.0.0.1"


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access log: request lines carry codes and tokens."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 (werkzeug's name)
        log.debug("demo server %s: %s", type, message % args if args else message)


class DemoProvider:
    """The demo OAuth 2.0 provider: an Authlib authorization server plus a protected JSON API.

    Both listen on 127.0.0.1, on ephemeral ports unless ``port``/``api_port`` are given::

        with DemoProvider(token_lifetime=60, auto_approve=True) as provider:
            provider.token_url, provider.api_url, provider.clients["demo-basic"]

    ``now`` is the provider's clock (tests inject a fake one). ``redirect_uris`` registers
    exact redirect URIs besides the loopback ones (a Jupyter server's ``.../nb-oauth/callback``).
    ``counters`` reports token requests per grant type (``token:<grant_type>``),
    ``api_requests``, ``api_401``, ``api_403``, ``authorizations``, ``revocations`` and
    ``refresh_token_reuse``.
    Raises :class:`PortInUse` from :meth:`start` when a fixed port is taken.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        api_port: int = 0,
        token_lifetime: int = 3600,
        issue_refresh_token: bool = True,
        rotate_refresh_tokens: bool = True,
        auto_approve: bool = False,
        device_code_lifetime: int = 600,
        device_interval: int = 5,
        device_min_interval: int | None = None,
        api_token_prefixes: tuple[str, ...] = ("Bearer",),
        now: Callable[[], float] = time.time,
        redirect_uris: tuple[str, ...] = (),
        **switches: bool,
    ) -> None:
        self.settings = DemoSettings(
            token_lifetime=token_lifetime,
            issue_refresh_token=issue_refresh_token,
            rotate_refresh_tokens=rotate_refresh_tokens,
            auto_approve=auto_approve,
            device_code_lifetime=device_code_lifetime,
            device_interval=device_interval,
            device_min_interval=device_min_interval,
            api_token_prefixes=api_token_prefixes,
            now=now,
            # dpop, dpop_nonce, api_dpop_nonce, dpop_nonce_loop, api_dpop_nonce_loop (RFC 9449);
            # require_par, par_refuse (RFC 9126)
            **switches,
        )
        self._ports = (port, api_port)
        self._store = DemoStore(
            demo_clients(issue_refresh_token=issue_refresh_token, redirect_uris=redirect_uris),
            now,
        )
        self._servers: list[BaseWSGIServer] = []
        self._threads: list[threading.Thread] = []
        self.issuer = ""
        self.api_url = ""

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> DemoProvider:
        """Bind both ports and serve in daemon threads. Raises :class:`PortInUse`."""
        if self._servers:
            raise RuntimeError("the demo provider is already running")
        sockets = [_listen(p) for p in self._ports]
        try:
            as_port, api_port = (s.getsockname()[1] for s in sockets)
            self.issuer = f"http://{HOST}:{as_port}"
            self.api_url = f"http://{HOST}:{api_port}"
            apps = (
                create_authorization_app(self._store, self.settings, self.issuer),
                create_api_app(
                    self._store, self.settings, resource=self.api_url, issuer=self.issuer
                ),
            )
            for sock, app in zip(sockets, apps, strict=True):
                self._serve(sock, app)
        except BaseException:
            self.stop()
            raise
        finally:
            for sock in sockets:
                sock.close()  # werkzeug serves from its own duplicate of the descriptor
        return self

    def _serve(self, sock: socket.socket, app: Flask) -> None:
        port = sock.getsockname()[1]
        server = make_server(
            HOST, port, app, threaded=True, request_handler=_QuietHandler, fd=sock.fileno()
        )
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"nb_oauth-demo-{port}",
            daemon=True,
        )
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop serving and close both ports; safe to call twice."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> DemoProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what clients need to know -----------------------------------------------------------------

    @property
    def authorization_url(self) -> str:
        return f"{self.issuer}/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/token"

    @property
    def revocation_url(self) -> str:
        return f"{self.issuer}/revoke"

    @property
    def device_authorization_url(self) -> str:
        return f"{self.issuer}/device_authorization"

    @property
    def verification_url(self) -> str:
        """Where a user enters a device sign-in's user code (RFC 8628 §3.3)."""
        return f"{self.issuer}/device"

    @property
    def pending_user_codes(self) -> list[str]:
        """User codes of device sign-ins that wait for a decision, oldest first."""
        with self._store.lock:
            return [str(d["user_code"]) for d in self._store.device_codes.values()
                    if str(d["user_code"]) not in self._store.device_decisions]

    def decide_device(self, user_code: str, *, approve: bool = True) -> None:
        """Approve or deny a device sign-in as the user would on the verification page (for
        tests and scripts; the page itself is what a person uses). Raises ``KeyError`` for an
        unknown or expired user code."""
        with self._store.lock:
            known = {str(d["user_code"]) for d in self._store.device_codes.values()}
            if user_code not in known:
                raise KeyError("no pending device sign-in has this user code")
            self._store.device_decisions[user_code] = approve

    @property
    def metadata_url(self) -> str:
        # RFC 8414 §3: the well-known URI for an issuer without a path component.
        return f"{self.issuer}/.well-known/oauth-authorization-server"

    @property
    def clients(self) -> dict[str, DemoClient]:
        """The registered demo clients by ``client_id`` (their secrets are demo values)."""
        return dict(self._store.clients)

    def register_public_key(
        self, client_id: str, public_jwk: Mapping[str, Any], *, refresh_token: bool = True
    ) -> DemoClient:
        """Register (or replace) a `private_key_jwt` client whose assertions are verified with
        `public_jwk` (RFC 7517), as a security team registers a key pair at a real server.
        It may use every grant."""
        grants = ("authorization_code", "refresh_token", "client_credentials",
                  "urn:ietf:params:oauth:grant-type:device_code")
        client = DemoClient(client_id, None, "private_key_jwt", grants,
                            issue_refresh_token=refresh_token and
                            self.settings.issue_refresh_token,
                            public_jwk=dict(public_jwk))
        with self._store.lock:
            self._store.clients[client_id] = client
        return client

    @property
    def counters(self) -> dict[str, int]:
        """A snapshot of the request counters; missing keys are zero."""
        with self._store.lock:
            return dict(self._store.counters)

    def reset_counters(self) -> None:
        with self._store.lock:
            self._store.counters.clear()

    # -- switches of the running API ----------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every API answer waits (0 by default); set it while the provider runs."""
        return self._store.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency is a number of seconds, 0 or more")
        self._store.latency = float(seconds)

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        """``(requests, window_s)``: the API answers 429 with ``Retry-After`` beyond that many
        requests per window of the provider's clock; ``None`` (the default) for no limit."""
        return self._store.rate_limit

    @rate_limit.setter
    def rate_limit(self, limit: tuple[int, float] | None) -> None:
        if limit is not None and (limit[0] < 1 or limit[1] <= 0):
            raise ValueError("rate_limit is (requests, window_s), both more than 0")
        with self._store.lock:
            self._store.rate_limit = limit
            self._store.window = (0.0, 0)

    @property
    def records(self) -> list[dict[str, object]]:
        """The collection served by ``/api/records/<style>`` (a copy)."""
        return list(self._store.records)

    def set_records(self, count: int) -> None:
        """Serve ``count`` synthetic records instead of the default 250."""
        from .store import demo_records

        self._store.records = demo_records(count)

    def __repr__(self) -> str:
        # Each URL stands between spaces, with no quote or bracket touching it: front ends that
        # turn URLs in text into links (JupyterLab) would take a closing quote into the link.
        state = f"issuer {self.issuer} API {self.api_url} " if self._servers else "stopped"
        return f"<DemoProvider {state}>"

    def _repr_html_(self) -> str:
        if not self._servers:
            return "<b>DemoProvider</b> (stopped)"
        rows = "".join(
            f"<tr><th style='text-align:left'>{label}</th><td style='text-align:left'>"
            f"<a href='{html.escape(url, quote=True)}' target='_blank'>{html.escape(url)}</a>"
            "</td></tr>"
            for label, url in (("issuer", self.issuer), ("API", self.api_url))
        )
        return f"<b>DemoProvider</b> (running)<table>{rows}</table>"


def _listen(port: int) -> socket.socket:
    """Bind ``127.0.0.1:port`` (0 = any free port) and listen; raises :class:`PortInUse`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if os.name != "nt":
        # POSIX SO_REUSEADDR only skips TIME_WAIT after a restart; on Windows it would allow a
        # second server on the same port, so it stays off there.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise PortInUse(port, fix="choose another port, or 0 for any free one") from None
    return sock

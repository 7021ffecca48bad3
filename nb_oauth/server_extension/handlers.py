"""The callback route: behind the Jupyter server's own login, it hands the redirect's query to the
kernel waiting for that ``state`` (``nb_oauth.handover``) and shows the user one line about what
happened (docs/security.md#the-server-callback).

The server checks nothing but which sign-in the ``state`` names: the kernel runs the same checks
as the loopback catcher (state, ``iss``, error, then PKCE when it redeems the code) and writes
its verdict, which the page shows. The page is static text with one script, ``window.close()``,
allowed by its hash; it sends no-store, no-referrer and no framing
(docs/security.md#pages-the-users-browser-shows).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import time
from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from nb_oauth.datasource import SERVER_CALLBACK_PATH
from nb_oauth.handover import Delivery, Handover, HandoverUnsafe, Outcome, handover_folder

__all__ = ["CallbackHandler", "add_callback_route", "page"]

#: How long the page waits for the kernel's verdict: it usually comes within a tenth of a second.
VERDICT_WAIT_S = 15.0
_POLL_S = 0.1

_CLOSE_SCRIPT = "window.close();"
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_CLOSE_SCRIPT.encode()).digest()).decode()
#: Nothing may load, run or be framed but the one script above (by its hash, not a nonce: it
#: never changes).
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src 'sha256-{_SCRIPT_HASH}'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
)

_AGAIN = "start it again from your notebook."
#: What each refused callback says, in one line: (HTTP status, title, text).
REFUSALS = {
    Delivery.NO_STATE: (
        400,
        "Not a sign-in response",
        "This address only takes sign-in responses, and this one carries no single state: "
        "start the sign-in from your notebook.",
    ),
    Delivery.NO_PENDING: (
        404,
        "No sign-in waiting",
        "No sign-in is waiting on this Jupyter server: start one from your notebook "
        "(nb_oauth.connect or %datasource connect) and follow the link it shows.",
    ),
    Delivery.WRONG_STATE: (
        400,
        "Not this sign-in",
        "This response does not belong to the sign-in your notebook is waiting for, so it was "
        "ignored: finish the sign-in in the tab the notebook opened.",
    ),
    Delivery.EXPIRED: (
        410,
        "Sign-in expired",
        "This sign-in ended before the browser came back (it timed out): " + _AGAIN,
    ),
    Delivery.CANCELLED: (
        410,
        "Sign-in cancelled",
        "This sign-in was stopped in the notebook before the browser came back: " + _AGAIN,
    ),
    Delivery.REPLAYED: (
        410,
        "Sign-in already finished",
        "This sign-in was already received, and nothing was done again: go back to your "
        "notebook.",
    ),
}
NOT_TAKEN = (
    "The notebook did not take this sign-in in time (it may have ended, or be busy): look at "
    "your notebook, and if it does not say Connected, " + _AGAIN
)


def page(title: str, text: str, *, close: bool = False) -> bytes:
    """The whole page: a title and one line of escaped text (and the closing script)."""
    script = f"<script>{_CLOSE_SCRIPT}</script>" if close else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif'>"
        f"<h1>{html.escape(title)}</h1><p id='message'>{html.escape(text)}</p>{script}"
        "</body></html>"
    ).encode()


class CallbackHandler(JupyterHandler):
    """``GET <base_url>nb-oauth/callback?...``: only for the server's own logged-in user."""

    def initialize(self, runtime_dir: str) -> None:
        self._runtime_dir = Path(runtime_dir)

    @property
    def content_security_policy(self) -> str:
        return CONTENT_SECURITY_POLICY

    @web.authenticated
    async def get(self) -> None:
        try:
            handover = Handover(handover_folder(self._runtime_dir))
        except HandoverUnsafe as exc:
            self._send(500, "Sign-in not received", str(exc))
            return
        delivery, key = handover.deliver(self.request.query)
        # The outcome only: the request line (logged by the server with code and state scrubbed)
        # says the rest.
        self.log.info("nb_oauth sign-in callback: %s", delivery.value)
        if delivery is not Delivery.DELIVERED or key is None:
            self._send(*REFUSALS[delivery])
            return
        deadline = time.monotonic() + VERDICT_WAIT_S
        verdict = handover.verdict(key)
        while verdict is None and time.monotonic() < deadline:
            await asyncio.sleep(_POLL_S)
            verdict = handover.verdict(key)
        if verdict is None:
            # No kernel took it: the code must not stay on disk.
            handover.withdraw(key)
            self._send(504, "Sign-in not confirmed", NOT_TAKEN)
        elif verdict.outcome is Outcome.SIGNED_IN:
            self._send(
                200,
                "Signed in",
                f"Signed in to {verdict.datasource}: go back to your notebook. You can close "
                "this tab.",
                close=True,
            )
        elif verdict.outcome is Outcome.IGNORED:
            self._send(
                400,
                "Sign-in response not understood",
                f"{verdict.message}; the notebook is still waiting: finish the sign-in in the tab "
                "it opened.",
            )
        else:
            self._send(400, "Sign-in failed", verdict.message or "The sign-in failed: " + _AGAIN)

    def _send(self, status: int, title: str, text: str, *, close: bool = False) -> None:
        self.set_status(status)
        for name, value in _PAGE_HEADERS:
            self.set_header(name, value)
        self.finish(page(title, text, close=close))


def add_callback_route(serverapp: Any) -> None:
    """Serve :class:`CallbackHandler` at ``<base_url>nb-oauth/callback``."""
    web_app = serverapp.web_app
    route = url_path_join(web_app.settings["base_url"], SERVER_CALLBACK_PATH.lstrip("/"))
    web_app.add_handlers(
        ".*$", [(route, CallbackHandler, {"runtime_dir": str(serverapp.runtime_dir)})]
    )
    serverapp.log.info("nb_oauth: sign-in callback at %s", route)

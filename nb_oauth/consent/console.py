"""The consent view for terminals, scripts and plain IPython: lines of text on stdout."""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["ConsoleView"]


class ConsoleView:
    """Prints the sign-in link and the outcome (see ``nb_oauth.consent.flow.ConsentView``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self._stream or sys.stdout, flush=True)

    def waiting(self, url: str, *, redirect_uri: str, timeout: float, paste: bool) -> None:
        how = "paste the address it redirects to" if paste else f"waiting up to {timeout:g} s"
        self._print(f"Sign in here (a browser tab should open; {how}):\n  {url}")
        self._print(
            f"Redirect URI to register at the provider: {redirect_uri} (RFC 8252 loopback: any "
            "port is accepted by compliant providers; set redirect_port for those that are not)"
        )

    def no_browser(self, datasource: str) -> None:
        self._print(
            "No browser could be opened here: open the link above yourself. If your browser runs "
            f"on another machine than this kernel, interrupt and run "
            f"nb_oauth.connect({datasource!r}, paste=True) instead."
        )

    def finished(self, message: str) -> None:
        self._print(message)

"""The consent view for terminals, scripts and plain IPython: lines of text on stdout."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from nb_oauth.consent.flow import SignInLink

__all__ = ["ConsoleView"]


class ConsoleView:
    """Prints the sign-in link and the outcome (see ``nb_oauth.consent.flow.ConsentView``).

    A terminal cannot take lines back, so a failure prints nothing here: the caller reports it.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self._stream or sys.stdout, flush=True)

    def waiting(self, sign_in: SignInLink) -> None:
        if sign_in.is_device_code:
            self._device_code(sign_in)
            return
        if sign_in.opened:
            self._print("Sign in in the browser tab that opened (or open this link):")
        else:
            self._print("No browser could be opened here: open this link to sign in:")
        self._print(f"  {sign_in.url}")
        if sign_in.paste:
            self._print("Then paste the address the browser is sent to.")
        else:
            self._print(f"Waiting up to {sign_in.timeout:g} s for the sign-in.")
            if not sign_in.opened and not sign_in.server_callback:
                self._print(
                    "If your browser runs on another machine than this kernel, interrupt and run "
                    f"nb_oauth.connect({sign_in.datasource!r}, paste=True) instead."
                )
        if sign_in.server_callback:
            self._print(
                f"Redirect URI to register at the provider: {sign_in.redirect_uri} (the Jupyter "
                "server's callback, registered exactly)"
            )
            return
        self._print(
            f"Redirect URI to register at the provider: {sign_in.redirect_uri} (RFC 8252 loopback: "
            "any port is accepted by compliant providers; set redirect_port for those that are not)"
        )

    def _device_code(self, sign_in: SignInLink) -> None:
        self._print(
            f"To sign in {sign_in.datasource}, open {sign_in.verification_uri} on any device and "
            "enter this code:"
        )
        self._print(f"\n    {sign_in.user_code}\n")
        if sign_in.opened:
            self._print("(A browser tab with the code filled in was opened here.)")
        elif sign_in.url != sign_in.verification_uri:
            self._print(f"Or open this link, which fills the code in: {sign_in.url}")
        self._print(f"Waiting up to {sign_in.timeout:g} s; press Ctrl-C to cancel.")

    def finished(self, message: str) -> None:
        self._print(message)

    def ended(self) -> None:
        pass

"""What a sign-in shows the user, whatever the grant: the :class:`ConsentView` protocol and the
:class:`SignInLink` it is given. A terminal (``consent/console.py``), a notebook cell
(``jupyter/display.py``) and the widgets (``jupyter/widgets/status_area.py``) implement it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from nb_oauth.datasource import SERVER_CALLBACK_PATH

__all__ = ["ConsentView", "SignInLink"]


class ConsentView(Protocol):
    """What the user sees during a sign-in (a terminal, a notebook cell, a widget)."""

    def waiting(self, sign_in: SignInLink) -> None:
        """The sign-in URL is ready: show it as a link (and the user code of a device sign-in,
        large), with how long the wait lasts and, when no browser could be opened here, that the
        user must open it (security.md#remote-kernels-and-browsers)."""

    def finished(self, message: str) -> None:
        """The sign-in succeeded: replace the link with ``message``
        (security.md#remote-kernels-and-browsers)."""

    def ended(self) -> None:
        """The sign-in failed or was cancelled: take the link away and show nothing else; the
        caller reports why, once (the exception it gets)."""


@dataclass(frozen=True)
class SignInLink:
    """What a :class:`ConsentView` shows while a sign-in waits for the browser.

    For the device grant (RFC 8628 §3.3) ``user_code`` is the code to type, ``verification_uri``
    the short address to type it at (on any device), and ``url`` the page to open, with the code
    filled in when the provider offers that; ``redirect_uri`` is empty, since nothing comes back
    to the kernel.
    """

    datasource: str
    url: str
    redirect_uri: str
    timeout: float
    paste: bool
    #: False when the kernel could open no browser: the user must open the link.
    opened: bool
    user_code: str | None = None
    verification_uri: str | None = None

    @property
    def is_device_code(self) -> bool:
        return self.user_code is not None

    @property
    def server_callback(self) -> bool:
        """True when the browser comes back through the Jupyter server's callback (no loopback
        port, no pasting: security.md#the-server-callback)."""
        return urlsplit(self.redirect_uri).path.endswith(SERVER_CALLBACK_PATH)

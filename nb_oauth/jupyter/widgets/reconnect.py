"""`ReconnectButton`: the way out of "sign in again", placed where the error is.

Shown with the one-line error of a cell whose call needs a new consent (never connected, the
refresh token revoked or expired). A click signs in in the background (the kernel stays free,
the cell's error stays where it is), and on success it says to run the cell again; nothing is
retried behind the user's back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from nb_oauth.consent.flow import DEFAULT_TIMEOUT_S, open_in_new_tab
from nb_oauth.jupyter.widgets.status_area import StatusArea

if TYPE_CHECKING:
    from nb_oauth.session import Session

__all__ = ["ReconnectButton"]


class ReconnectButton(w.VBox):  # type: ignore[misc]
    """A "Reconnect NAME" button and the sign-in's status area (link, countdown, Cancel)."""

    def __init__(
        self,
        session: Session,
        name: str,
        *,
        open_url: Callable[[str], bool] = open_in_new_tab,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__()
        self._name = name
        self.button = w.Button(
            description=f"Reconnect {name}", icon="sign-in", button_style="primary",
            tooltip="Sign in again in a new browser tab; the kernel stays free meanwhile",
        )
        self.status = StatusArea(session, open_url=open_url, timeout=timeout)
        self.button.on_click(self._on_click)
        self.status.observe(self._on_consent, names="consent")
        self.children = [self.button, self.status]

    def _on_click(self, button: w.Button) -> None:
        button.disabled = True
        self.status.clear()
        self.status.start_consent(self._name)

    def _on_consent(self, change: Any) -> None:
        if change["new"] == "waiting":
            return
        self.button.disabled = False
        if change["new"] == "connected":
            self.button.layout.display = "none"
            self.status.say(f"Run the cell again: {self._name} is connected.")

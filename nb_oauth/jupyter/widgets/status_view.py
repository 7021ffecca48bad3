"""`DatasourceStatusView`: one datasource's connection at a glance, with Reconnect and Disconnect
; also what ``%datasource show`` displays in a notebook."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import traitlets

from nb_oauth.consent.flow import DEFAULT_TIMEOUT_S, disconnect, open_in_new_tab
from nb_oauth.jupyter.display import DatasourceStatus
from nb_oauth.jupyter.widgets.status_area import StatusArea

if TYPE_CHECKING:
    from nb_oauth.session import Session

__all__ = ["DatasourceStatusView"]

# The first rows of `DatasourceStatus.rows()` describe the connection; the rest are settings.
_CONNECTION_ROWS = frozenset(
    {"token", "refresh token", "granted scopes", "requested scopes", "client secret",
     "redirect URI to register"}
)


class DatasourceStatusView(w.VBox):  # type: ignore[misc]
    """Connected or not, expiry, granted vs requested scopes, refresh token present, and the
    settings (folded); Reconnect runs the sign-in in the background, Disconnect revokes.

    ``connected`` follows the stored tokens; it is refreshed after each action and by
    :meth:`refresh`. Shows only whether secrets exist, never their values.
    """

    connected = traitlets.Bool(False)

    def __init__(
        self,
        session: Session,
        name: str,
        *,
        open_url: Callable[[str], bool] = open_in_new_tab,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(layout=w.Layout(max_width="960px"))
        self._session = session
        self._name = name
        self._table = w.HTML()
        self._settings = w.HTML()
        self._reconnect = w.Button(description="Reconnect", icon="sign-in", button_style="primary")
        self._disconnect = w.Button(description="Disconnect", icon="unlink")
        self._refresh = w.Button(description="Refresh", icon="refresh")
        self.status = StatusArea(session, open_url=open_url, timeout=timeout)
        self.children = [
            self._table,
            w.Accordion(children=[self._settings], titles=("Settings",), selected_index=None),
            w.HBox([self._reconnect, self._disconnect, self._refresh],
                   layout=w.Layout(margin="8px 0")),
            self.status,
        ]
        self._reconnect.on_click(self._on_reconnect_click)
        self._disconnect.on_click(self._on_disconnect_click)
        self._refresh.on_click(self._on_refresh_click)
        self.status.observe(self._on_status_consent, names="consent")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the datasource and its tokens."""
        status = DatasourceStatus.of(self._session, self._name)
        rows = status.rows()
        self._table.value = f"<b>Datasource {html.escape(self._name)}</b>" + _table(
            [row for row in rows if row[0] in _CONNECTION_ROWS]
        )
        self._settings.value = _table([row for row in rows if row[0] not in _CONNECTION_ROWS])
        # Client credentials have no consent to redo: the token is fetched on first use.
        grant = self._session.datasource(self._name).grant
        self._reconnect.layout.display = "none" if grant == "client_credentials" else None
        self.connected = status.connected

    def _on_reconnect_click(self, button: w.Button) -> None:
        with self.status.out:
            button.disabled = True
            try:
                self.status.clear()
                self.status.start_consent(self._name)
            finally:
                button.disabled = False

    def _on_disconnect_click(self, button: w.Button) -> None:
        with self.status.out:
            button.disabled = True
            try:
                self.status.clear()
                self.status.cancel_consent()
                self.status.say(str(disconnect(self._session, self._name)))
                self.refresh()
            finally:
                button.disabled = False

    def _on_refresh_click(self, button: w.Button) -> None:
        with self.status.out:
            self.refresh()

    def _on_status_consent(self, change: Any) -> None:
        if change["new"] != "waiting":
            self.refresh()


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(key)}</th>"
        f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
        for key, value in rows
    )
    return f"<table>{cells}</table>"

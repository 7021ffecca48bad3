"""Reconnect where the error is: a cell whose call needs a new sign-in shows its one-line error
and, in a notebook with someone at the keyboard, a Reconnect button under it.

Two places raise it: ``%%api`` (``api_magic``), and any Python cell whose call raises
`ReauthRequired` (``client.get(...)`` with a dead refresh token), caught by an IPython custom
exception handler that `install` registers when ``%load_ext nb_oauth`` runs, unless the user
already has one of their own. The cell still fails, so "Run All" stops there; the traceback,
which would only show httpx's insides, is replaced by the line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.display import display

from nb_oauth.consent.unattended import unattended_reason
from nb_oauth.errors import ReauthRequired, first_line

if TYPE_CHECKING:
    from nb_oauth.session import Session

__all__ = ["install", "offer_reconnect", "uninstall"]


def offer_reconnect(shell: Any, session: Session, name: str | None) -> bool:
    """Show a Reconnect button for ``name`` when a person can click it: in a Jupyter kernel
    (widgets), for a datasource this session knows, in an attended run. Returns whether it did."""
    if name is None or getattr(shell, "kernel", None) is None or unattended_reason() is not None:
        return False
    if name not in session.names():
        return False
    from nb_oauth.jupyter.widgets.reconnect import ReconnectButton

    display(ReconnectButton(session, name))
    return True


def install(shell: Any, session: Callable[[], Session]) -> object | None:
    """Catch `ReauthRequired` escaping a cell: one line and the button, no traceback. Returns
    what `uninstall` needs, or ``None`` when the user's own handler is kept (IPython has room
    for one; then ours show the usual traceback)."""
    if shell.custom_exceptions:
        return None

    def handler(
        shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
        tb_offset: int | None = None,
    ) -> list[str]:
        # IPython shows nothing for a custom exception but what the handler shows; the cell
        # still fails (its reply is an error), so "Run All" stops here.
        print(f"{etype.__name__}: {first_line(value)}", file=sys.stderr, flush=True)
        name = value.datasource if isinstance(value, ReauthRequired) else None
        offer_reconnect(shell, session(), name)
        return []

    shell.set_custom_exc((ReauthRequired,), handler)
    installed: object = shell.CustomTB
    return installed


def uninstall(shell: Any, installed: object) -> None:
    """Remove the handler `install` registered, and only that one (not one set since)."""
    if shell.CustomTB is installed:
        shell.set_custom_exc((), None)

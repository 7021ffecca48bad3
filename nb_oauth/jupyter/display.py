"""Rich display in a notebook: the consent link that is replaced when the sign-in ends."""

from __future__ import annotations

import html

from IPython.core.getipython import get_ipython
from IPython.display import HTML, DisplayHandle, display

__all__ = ["NotebookConsentView", "notebook_view"]


def notebook_view() -> NotebookConsentView | None:
    """A :class:`NotebookConsentView` when running in a Jupyter kernel, else ``None``."""
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return NotebookConsentView()


class NotebookConsentView:
    """Shows the sign-in link (``target="_blank"``: a new tab, SPEC section 2) in the cell output
    and replaces it with the outcome, so the saved notebook keeps no sign-in URL (SEC-12)."""

    def __init__(self) -> None:
        self._handle: DisplayHandle | None = None

    def _show(self, markup: str) -> None:
        if self._handle is None:
            self._handle = display(HTML(markup), display_id=True)
        else:
            self._handle.update(HTML(markup))

    def waiting(self, url: str, *, redirect_uri: str, timeout: float, paste: bool) -> None:
        how = "then paste the address it redirects to" if paste else f"waiting up to {timeout:g} s"
        self._show(
            f'<a href="{html.escape(url, quote=True)}" target="_blank" '
            'rel="noopener noreferrer"><b>Open the sign-in page</b></a> '
            f"({html.escape(how)})<br><small>Redirect URI to register at the provider: "
            f"<code>{html.escape(redirect_uri)}</code> (any loopback port, RFC 8252)</small>"
        )

    def no_browser(self, datasource: str) -> None:
        print(
            "No browser could be opened by the kernel: click the link above. If the kernel runs "
            f"on another machine, interrupt and run nb_oauth.connect({datasource!r}, paste=True)."
        )

    def finished(self, message: str) -> None:
        self._show(f"<span>{html.escape(message)}</span>")

"""The status area under the form and the status view: messages, and the running sign-in.

A sign-in started from a button runs ``nb_oauth.consent.flow.connect`` in a daemon thread. The
button's handler returns at once, so the kernel keeps executing cells and processing widget
messages while the browser tab is open (a blocking wait would freeze both, and the countdown
with them). Starting a second sign-in, or pressing Cancel, sets the first one's cancel event:
its catcher stops waiting within 0.1 s, closes its port and stores nothing.

Messages go into an ``Output`` widget through ``outputs`` rather than ``print`` inside
``with out:``, because the sign-in thread has no cell to print into; a lock keeps the two
threads' appends from overwriting each other.
"""

from __future__ import annotations

import html
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import traitlets

from nb_oauth.consent.flow import DEFAULT_TIMEOUT_S, connect, open_in_new_tab
from nb_oauth.errors import NbOAuthError, NbOAuthWarning, SignInCancelled
from nb_oauth.jupyter.display import DatasourceStatus, sign_in_html

if TYPE_CHECKING:
    from nb_oauth.consent.flow import SignInLink
    from nb_oauth.session import Session

__all__ = ["StatusArea"]

#: How long a new sign-in waits for the one it replaces to finish (it normally takes 0.1 s;
#: longer only when that one is already redeeming its code at the token endpoint).
_REPLACE_WAIT_S = 15.0


class StatusArea(w.VBox):  # type: ignore[misc]
    """Messages (an ``Output``) and, while a sign-in runs, its link, countdown and Cancel button.

    Implements the ``ConsentView`` protocol for the sign-in thread. ``consent`` is the state of
    the latest sign-in: ``idle``, ``waiting``, ``connected``, ``failed`` or ``cancelled``.
    """

    consent = traitlets.Unicode("idle")

    def __init__(
        self,
        session: Session,
        *,
        open_url: Callable[[str], bool] = open_in_new_tab,
        timeout: float = DEFAULT_TIMEOUT_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._session = session
        self._open_url = open_url
        self._timeout = timeout
        self._now = now
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel_event = threading.Event()
        self._stop_ticking = threading.Event()
        self._link = w.HTML("")
        self._countdown = w.Label("")
        self._cancel = w.Button(description="Cancel sign-in", icon="times")
        self._cancel.on_click(self._on_cancel_click)
        self._waiting = w.HBox([self._countdown, self._cancel], layout=w.Layout(display="none"))
        self.out = w.Output()
        self.children = [self._link, self._waiting, self.out]

    # -- messages (thread-safe) --------------------------------------------------------------

    def clear(self) -> None:
        with self._lock:
            self.out.outputs = ()

    def say(self, text: str) -> None:
        self._append({"output_type": "stream", "name": "stdout", "text": text + "\n"})

    def error(self, text: str) -> None:
        self._append({"output_type": "stream", "name": "stderr", "text": text + "\n"})

    def show_status(self, name: str) -> None:
        """Show the datasource's token status (no secret in it: see ``DatasourceStatus``)."""
        status = DatasourceStatus.of(self._session, name)
        # Built by hand: IPython's formatter would create a shell when there is none (tests).
        data = {"text/plain": str(status), "text/html": status._repr_html_()}
        self._append({"output_type": "display_data", "data": data, "metadata": {}})

    def _append(self, output: dict[str, Any]) -> None:
        with self._lock:
            self.out.outputs = (*self.out.outputs, output)

    # -- the sign-in ---------------------------------------------------------------------------

    def start_consent(self, name: str) -> None:
        """Start the sign-in for ``name`` in the background, cancelling one still waiting."""
        self.cancel_consent()
        self._cancel_event = cancel = threading.Event()
        self.consent = "waiting"
        self._thread = threading.Thread(
            target=self._run, args=(name, cancel), name=f"nb_oauth-consent-{name}", daemon=True
        )
        self._thread.start()

    def cancel_consent(self) -> None:
        """Cancel the running sign-in, if any, and wait until it has closed its port."""
        if self._thread is not None:
            self._cancel_event.set()
            self._thread.join(_REPLACE_WAIT_S)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running sign-in to end (for tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _on_cancel_click(self, button: w.Button) -> None:
        button.disabled = True
        try:
            self.cancel_consent()
        finally:
            button.disabled = False

    def _run(self, name: str, cancel: threading.Event) -> None:
        outcome = "failed"
        try:
            connect(self._session, name, view=self, open_url=self._open_url,
                    timeout=self._timeout, cancel=cancel)
            outcome = "connected"
        except NbOAuthWarning as advice:
            # Advice after the tokens were stored (no refresh token, fewer scopes than asked);
            # only raised under warnings-as-errors. Connected all the same.
            outcome = "connected"
            self.error(str(advice))
        except SignInCancelled as exc:
            outcome = "cancelled"
            self.say(f"{exc}.")
        except NbOAuthError as exc:
            self.error(str(exc))
        except BaseException:  # noqa: BLE001 - the UI boundary: there is no cell to raise into
            self.error(traceback.format_exc())
        finally:
            self._stop_ticking.set()
            self._waiting.layout.display = "none"
            if outcome == "connected":
                self.show_status(name)
            self.consent = outcome

    # -- ConsentView, called from the sign-in thread -----------------------------------------

    def waiting(self, sign_in: SignInLink) -> None:
        deadline = self._now() + sign_in.timeout
        self._show_time_left(deadline)  # at once, with the link: never a blank countdown
        self._link.value = sign_in_html(sign_in)
        self._stop_ticking = stop = threading.Event()
        self._waiting.layout.display = None
        threading.Thread(
            target=self._tick, args=(deadline, stop), name="nb_oauth-countdown", daemon=True
        ).start()

    def finished(self, message: str) -> None:
        # The link goes away, so a saved notebook keeps no stale sign-in URL
        # (security.md#remote-kernels-and-browsers).
        self._stop_ticking.set()
        self._link.value = f"<span>{html.escape(message)}</span>"

    def ended(self) -> None:
        # The sign-in thread reports why below (`_run`); the link and the countdown go.
        self._stop_ticking.set()
        self._waiting.layout.display = "none"
        self._link.value = ""

    def _tick(self, deadline: float, stop: threading.Event) -> None:
        # Its own thread: the sign-in thread is blocked in the catcher's wait meanwhile.
        while not stop.wait(1.0):
            self._show_time_left(deadline)

    def _show_time_left(self, deadline: float) -> None:
        left = max(0, round(deadline - self._now()))
        self._countdown.value = f"Waiting for the sign-in: {left // 60}:{left % 60:02d} left"

"""The device authorization grant (RFC 8628): sign in on any device with a short code.

For kernels the browser cannot reach (JupyterHub, containers, SSH, Colab): nothing comes back to
the kernel, which asks the token endpoint whether the user has approved yet. The flow:

1. POST to the device authorization endpoint (§3.1) and judge the answer
   (`nb_oauth.grants.device`) before showing anything;
2. show the user code and the verification link through the `ConsentView`, and open the link
   (with the code filled in when the provider offers it, §3.3.1) in a browser when one can be
   opened here;
3. poll the token endpoint (§3.4) no faster than ``interval``, adding 5 s on ``slow_down`` and
   backing off on network errors (§3.5), until tokens, ``access_denied``, ``expired_token``,
   the deadline, Cancel or the kernel's interrupt.

Waiting is done by an injectable ``sleep`` (tests move a fake clock instead of waiting), in
slices of 0.1 s by default, so that an interrupt or a Cancel is felt at once
(security.md#device-grant).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from nb_oauth.bearer import origin
from nb_oauth.consent.view import ConsentView, SignInLink
from nb_oauth.errors import (
    AuthorizationDenied,
    ClientConfigError,
    DeviceCodeExpired,
    NbOAuthWarning,
    SignInCancelled,
    TokenEndpointTimeout,
    TokenEndpointUnreachable,
    TokenError,
)
from nb_oauth.grants.device import SLOW_DOWN_S, DeviceAuthorization, read_device_authorization
from nb_oauth.grants.token_requests import (
    TokenRequest,
    device_authorization_request,
    device_code_request,
    read_token_response,
)
from nb_oauth.token_http import send_token_request
from nb_oauth.tokens import TokenSet

if TYPE_CHECKING:
    from nb_oauth.datasource import Datasource
    from nb_oauth.secret import Secret
    from nb_oauth.session import Session

__all__ = ["device_sign_in"]

#: The longest pause between two polls after network errors (RFC 8628 §3.5: back off).
_MAX_BACKOFF_S = 60.0
_SLICE_S = 0.1
#: The user said no: RFC 8628 §3.5 ``access_denied``; Microsoft's identity platform answers
#: ``authorization_declined`` (docs/provider-notes/microsoft.md).
_DECLINED = frozenset({"access_denied", "authorization_declined"})


def device_sign_in(
    session: Session,
    name: str,
    *,
    view: ConsentView,
    open_url: Callable[[str], bool],
    open_browser: bool,
    timeout: float,
    cancel: threading.Event | None = None,
    sleep: Callable[[float], None] | None = None,
) -> TokenSet:
    """Run the device grant for datasource ``name`` and return its tokens (not yet stored).

    Waits at most ``timeout`` seconds, or less when the code expires sooner. Raises
    `AuthorizationDenied` (the user declined), `DeviceCodeExpired` (not approved in time),
    `SignInCancelled` (``cancel`` was set), the token endpoint's errors, and lets
    ``KeyboardInterrupt`` through; the view is told `ended()` on every failure.
    """
    ds = session.datasource(name)
    secret = session.store.load_secret(name)
    try:
        authorization = _authorize(ds, secret)
    except ClientConfigError as exc:
        exc.note_saved_secret(secret is not None, ds.client_auth)
        raise
    if authorization.interval_note:
        warnings.warn(
            f"{name}: the device authorization endpoint {authorization.interval_note}",
            NbOAuthWarning,
            stacklevel=3,
        )
    wait = min(timeout, authorization.expires_in)
    opened = open_browser and open_url(authorization.link)
    view.waiting(
        SignInLink(
            datasource=name,
            url=authorization.link,
            redirect_uri="",
            timeout=wait,
            paste=False,
            opened=opened,
            user_code=authorization.user_code,
            verification_uri=authorization.verification_uri,
        )
    )
    try:
        return _poll(
            session, ds, secret, authorization,
            deadline=session.now() + wait,
            waited=wait,
            cancel=cancel,
            sleep=sleep or _sleeper(cancel),
        )
    except BaseException:
        view.ended()
        raise


def _authorize(ds: Datasource, secret: Secret | None) -> DeviceAuthorization:
    request = device_authorization_request(ds, secret)
    response = _send(ds.name, request)
    return read_device_authorization(
        status_code=response.status_code,
        content_type=response.headers.get("Content-Type"),
        body=response.content,
        datasource=ds.name,
    )


def _poll(
    session: Session,
    ds: Datasource,
    secret: Secret | None,
    authorization: DeviceAuthorization,
    *,
    deadline: float,
    waited: float,
    cancel: threading.Event | None,
    sleep: Callable[[float], None],
) -> TokenSet:
    interval = authorization.interval
    pause = interval
    while True:
        sleep(max(0.0, min(pause, deadline - session.now())))
        if cancel is not None and cancel.is_set():
            raise SignInCancelled(ds.name)
        request = device_code_request(ds, secret, authorization.device_code)
        try:
            response = _send(ds.name, request)
        except (TokenEndpointUnreachable, TokenEndpointTimeout):
            # RFC 8628 §3.5: back off on a failed connection; the code stays valid meanwhile.
            # At the deadline, the network is what the user needs to hear about.
            if session.now() >= deadline:
                raise
            pause = min(pause * 2, _MAX_BACKOFF_S)
            continue
        try:
            return read_token_response(
                request,
                status_code=response.status_code,
                content_type=response.headers.get("Content-Type"),
                body=response.content,
                now=session.now(),
                datasource=ds.name,
            )
        except TokenError as exc:
            if exc.error in _DECLINED:
                raise AuthorizationDenied(exc.error, exc.error_description) from None
            if exc.error == "expired_token":
                raise DeviceCodeExpired(ds.name) from None
            if exc.error == "slow_down":
                # §3.5: "the interval MUST be increased by 5 seconds for this and all
                # subsequent requests".
                interval += SLOW_DOWN_S
            elif exc.error != "authorization_pending":
                raise
        if session.now() >= deadline:
            raise DeviceCodeExpired(ds.name, waited)
        pause = interval


def _send(name: str, request: TokenRequest) -> httpx.Response:
    try:
        return send_token_request(request)
    except httpx.TransportError as exc:
        problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        where = origin(request.url) or request.url
        raise TokenEndpointUnreachable(where, problem, datasource=name) from None


def _sleeper(cancel: threading.Event | None) -> Callable[[float], None]:
    """Wait in short slices, so that Cancel and the kernel's interrupt are felt at once."""

    def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if cancel is not None:
                if cancel.wait(min(_SLICE_S, left)):
                    return
            else:
                time.sleep(min(_SLICE_S, left))

    return sleep

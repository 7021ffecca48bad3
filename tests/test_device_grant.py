"""The device authorization grant (RFC 8628, SPEC section 11) against the demo provider's real
Authlib endpoints. Time is a fake clock shared by the provider and the session: the flow's
``sleep`` moves it instead of waiting, and records every pause."""

from __future__ import annotations

import io
import json
import threading
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import nb_oauth
from nb_oauth.consent.console import ConsoleView
from nb_oauth.consent.flow import SignInLink, connect
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import (
    AuthorizationDenied,
    DeviceCodeExpired,
    NbOAuthWarning,
    SignInCancelled,
    TokenEndpointError,
    TokenEndpointUnreachable,
)
from nb_oauth.grants.device import read_device_authorization
from nb_oauth.jupyter.display import sign_in_html
from nb_oauth.session import Session
from tests.conftest import FakeClock
from tests.test_discovery import MetadataServer


class View:
    def __init__(self) -> None:
        self.shown: list[SignInLink] = []
        self.events: list[str] = []
        self.ready = threading.Event()

    def waiting(self, sign_in: SignInLink) -> None:
        self.shown.append(sign_in)
        self.events.append("waiting")
        self.ready.set()

    def finished(self, message: str) -> None:
        self.events.append(f"finished: {message}")

    def ended(self) -> None:
        self.events.append("ended")


class FakeSleep:
    """The flow's wait: moves the shared clock, records the pause, then runs `then(n)` (the
    user's action during the n-th pause, 1-based)."""

    def __init__(self, clock: FakeClock, then: Callable[[int], None] = lambda n: None) -> None:
        self.clock = clock
        self.pauses: list[float] = []
        self.then = then

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(seconds)
        self.then(len(self.pauses))


def device_session(provider: DemoProvider, clock: FakeClock, **fields: Any) -> Session:
    session = Session(now=clock)
    settings: dict[str, Any] = {
        "name": "tv",
        "grant": "device_code",
        "token_url": provider.token_url,
        "device_authorization_url": provider.device_authorization_url,
        "client_id": "demo-public",
        "client_auth": "none",
        "scopes": "profile items:read",
        "base_url": provider.api_url,
        **fields,
    }
    session.save(nb_oauth.Datasource(**settings))
    return session


def approve_on(
    provider: DemoProvider, pause: int, *, approve: bool = True
) -> Callable[[int], None]:
    def then(n: int) -> None:
        if n == pause:
            provider.decide_device(provider.pending_user_codes[0], approve=approve)

    return then


def test_device_sign_in_polls_at_the_interval_then_calls_and_refreshes(
    make_provider: Any, clock: FakeClock
) -> None:
    # SPEC section 11; RFC 8628 §3.4/§3.5; SEC-1 (no redirect at all on this path)
    provider = make_provider(device_interval=5, token_lifetime=600)
    session = device_session(provider, clock)
    view, sleep = View(), FakeSleep(clock, approve_on(provider, 3))
    opened: list[str] = []

    result = connect(session, "tv", view=view, open_url=lambda url: opened.append(url) or True,
                     sleep=sleep)

    # Three pauses of the advertised interval: pending, pending, then approved during the third.
    assert sleep.pauses == [5, 5, 5]
    assert provider.counters["token:urn:ietf:params:oauth:grant-type:device_code"] == 3
    shown = view.shown[0]
    assert shown.user_code and shown.redirect_uri == "" and shown.opened
    assert shown.verification_uri == provider.verification_url
    # The page opened is the one with the code filled in (RFC 8628 §3.3.1).
    assert opened == [shown.url] and f"user_code={shown.user_code}" in shown.url
    assert str(result).endswith("(signed in via a device code)") and result.has_refresh_token
    assert view.events[-1].startswith("finished: Connected tv")
    with session.client("tv") as client:
        assert client.get("/api/me").json()["sub"] == "demo-user"
        clock.advance(601)  # past expiry: the stored refresh token renews it
        assert client.get("/api/me").status_code == 200
    assert provider.counters["token:refresh_token"] == 1


def test_slow_down_adds_five_seconds_for_every_later_poll(
    make_provider: Any, clock: FakeClock
) -> None:
    # RFC 8628 §3.5: "increased by 5 seconds for this and all subsequent requests"
    provider = make_provider(device_interval=2, device_min_interval=5)
    session = device_session(provider, clock)
    sleep = FakeSleep(clock, approve_on(provider, 4))
    connect(session, "tv", view=View(), open_url=lambda url: False, sleep=sleep)
    # 2 (pending), 2 (too fast: slow_down), then 7 each: pending, approved.
    assert sleep.pauses == [2, 2, 7, 7]


def test_access_denied_is_a_typed_error_and_stores_nothing(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider()
    session = device_session(provider, clock)
    view = View()
    with pytest.raises(AuthorizationDenied, match="declined"):
        connect(session, "tv", view=view, open_url=lambda url: False,
                sleep=FakeSleep(clock, approve_on(provider, 1, approve=False)))
    assert view.events == ["waiting", "ended"]
    assert session.store.load_tokens("tv") is None


def test_an_expired_code_is_a_typed_error(make_provider: Any, clock: FakeClock) -> None:
    # The server's expired_token (its code lived 8 s, the client was told 600 s).
    provider = make_provider(device_code_lifetime=8)
    session = device_session(provider, clock)
    with pytest.raises(DeviceCodeExpired, match="%datasource connect tv again"):
        connect(session, "tv", view=View(), open_url=lambda url: False,
                sleep=FakeSleep(clock))
    assert session.store.load_tokens("tv") is None


def test_the_sign_in_waits_no_longer_than_its_timeout(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider(device_interval=5)
    session = device_session(provider, clock)
    sleep = FakeSleep(clock)
    with pytest.raises(DeviceCodeExpired, match="within 12 s"):
        connect(session, "tv", view=View(), open_url=lambda url: False, timeout=12, sleep=sleep)
    # The last pause is cut to the deadline, and one last poll is made there.
    assert sleep.pauses == [5, 5, 2]


def test_cancel_ends_the_wait_and_stores_nothing(make_provider: Any, clock: FakeClock) -> None:
    provider = make_provider()
    session = device_session(provider, clock)
    cancel = threading.Event()
    view = View()
    with pytest.raises(SignInCancelled):
        connect(session, "tv", view=view, open_url=lambda url: False, cancel=cancel,
                sleep=FakeSleep(clock, lambda n: cancel.set()))
    assert view.events == ["waiting", "ended"]
    assert provider.counters.get("token:urn:ietf:params:oauth:grant-type:device_code", 0) == 0


def test_cancel_is_felt_during_a_real_wait(make_provider: Any, clock: FakeClock) -> None:
    # The default sleep waits in slices on the cancel event: a Cancel pressed in the widget
    # ends a 5 s pause at once.
    provider = make_provider(device_interval=5)
    session = device_session(provider, clock)
    cancel = threading.Event()
    view = View()
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            connect(session, "tv", view=view, open_url=lambda url: False, cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    cancel.set()
    assert done.wait(2), "the cancel was not felt within 2 s of a 5 s pause"
    assert isinstance(failure[0], SignInCancelled)


def test_a_kernel_interrupt_goes_through_and_ends_the_view(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider()
    session = device_session(provider, clock)
    view = View()

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        connect(session, "tv", view=view, open_url=lambda url: False,
                sleep=FakeSleep(clock, interrupt))
    assert view.events == ["waiting", "ended"]


def test_the_endpoint_is_discovered_from_the_issuer(make_provider: Any, clock: FakeClock) -> None:
    provider = make_provider()
    session = Session(now=clock)
    session.save(nb_oauth.Datasource(name="tv", grant="device_code", issuer=provider.issuer,
                                     client_id="demo-public", client_auth="none"))
    ds = session.datasource("tv")
    assert ds.device_authorization_url == provider.device_authorization_url
    assert ds.authorization_url == provider.authorization_url  # harmless, unused


def test_a_provider_without_the_device_grant_is_one_line() -> None:
    server = MetadataServer()
    server.serve("/.well-known/oauth-authorization-server", server.metadata())
    with pytest.raises(nb_oauth.ConfigError, match="names no device_authorization_endpoint"):
        Session().save(nb_oauth.Datasource(name="tv", grant="device_code",
                                           issuer=server.issuer, client_id="c"))


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<html>busy</html>", "did not answer JSON"),
        (b"[]", "not answer a JSON object"),
        (json.dumps({"user_code": "A", "verification_uri": "https://x/d",
                     "expires_in": 600}).encode(), "no device_code"),
        (json.dumps({"device_code": "d", "user_code": "A", "verification_uri": "javascript:x",
                     "expires_in": 600}).encode(), "no http(s) verification_uri"),
        (json.dumps({"device_code": "d", "user_code": "A", "verification_uri": "https://x/d",
                     "expires_in": 600, "interval": 10_000}).encode(), "10000 s between checks"),
        (json.dumps({"device_code": "d", "user_code": "A", "verification_uri": "https://x/d",
                     "expires_in": -1}).encode(), "no positive expires_in"),
    ],
)
def test_a_device_endpoint_answering_garbage_is_one_line_before_anything_is_shown(
    body: bytes, said: str
) -> None:
    # issue 16, bad input: garbage, an interval of 10,000
    server = MetadataServer()
    server.serve("/device", body)
    session = Session()
    session.save(nb_oauth.Datasource(
        name="tv", grant="device_code", token_url=f"{server.issuer}/token",
        device_authorization_url=f"{server.issuer}/device", client_id="c",
    ))
    view = View()
    with pytest.raises(TokenEndpointError) as info:
        connect(session, "tv", view=view, open_url=lambda url: False, sleep=lambda s: None)
    message = str(info.value)
    assert said in message and "device authorization endpoint of tv" in message
    assert "\n" not in message
    assert view.events == []  # no code was shown for a sign-in that cannot work


def test_an_interval_of_zero_polls_at_the_default_and_says_so(
    make_provider: Any, clock: FakeClock
) -> None:
    answer = read_device_authorization(
        status_code=200, content_type="application/json", datasource="tv",
        body=json.dumps({"device_code": "d", "user_code": "BCDF-GHJK", "expires_in": 600,
                         "verification_uri": "https://as.example/device", "interval": 0}).encode(),
    )
    assert answer.interval == 5 and "every 0 s" in (answer.interval_note or "")
    assert "d" not in repr(answer.device_code)


def test_a_device_endpoint_error_is_the_oauth_error() -> None:
    server = MetadataServer()
    server.serve("/device", {"error": "invalid_client", "error_description": "who?"}, status=401)
    session = Session()
    session.save(nb_oauth.Datasource(
        name="tv", grant="device_code", token_url=f"{server.issuer}/token",
        device_authorization_url=f"{server.issuer}/device", client_id="c",
    ))
    # No secret was saved to send: the line says to give it if the app has one.
    with pytest.raises(
        nb_oauth.ClientConfigError, match="invalid_client.*No client secret is saved for tv here"
    ):
        connect(session, "tv", view=View(), open_url=lambda url: False)


def test_an_unreachable_device_endpoint_is_one_line() -> None:
    session = Session()
    session.save(nb_oauth.Datasource(
        name="tv", grant="device_code", token_url="http://127.0.0.1:9/token",
        device_authorization_url="http://127.0.0.1:9/device", client_id="c",
    ))
    with pytest.raises(TokenEndpointUnreachable, match="Sign-in for tv failed"):
        connect(session, "tv", view=View(), open_url=lambda url: False)


def test_network_errors_while_polling_back_off_then_say_so(
    make_provider: Any, clock: FakeClock
) -> None:
    # RFC 8628 §3.5: a failed poll doubles the pause (capped at 60 s); the code stays valid
    # meanwhile; at the deadline the error says the token endpoint could not be reached.
    provider = make_provider(device_interval=5)
    session = device_session(provider, clock, token_url="http://127.0.0.1:9/token")
    sleep = FakeSleep(clock)
    with pytest.raises(TokenEndpointUnreachable, match="Sign-in for tv failed"):
        connect(session, "tv", view=View(), open_url=lambda url: False, timeout=200,
                sleep=sleep)
    assert sleep.pauses == [5, 10, 20, 40, 60, 60, 5]


def test_the_console_shows_the_code_and_where_to_enter_it() -> None:
    out = io.StringIO()
    ConsoleView(out).waiting(SignInLink(
        "tv", "https://as.example/device?user_code=BCDF-GHJK", "", 600, False, False,
        user_code="BCDF-GHJK", verification_uri="https://as.example/device",
    ))
    text = out.getvalue()
    assert "open https://as.example/device on any device" in text
    assert "\n    BCDF-GHJK\n" in text
    assert "fills the code in: https://as.example/device?user_code=BCDF-GHJK" in text
    assert "Redirect URI" not in text


def test_the_notebook_shows_the_code_large_and_escaped() -> None:
    markup = sign_in_html(SignInLink(
        "tv", "https://as.example/device?user_code=<b>", "", 600, False, True,
        user_code="<b>X</b>", verification_uri="https://as.example/device",
    ))
    assert "font-size:2em" in markup and "&lt;b&gt;X&lt;/b&gt;" in markup
    assert "<b>X</b>" not in markup
    assert 'href="https://as.example/device"' in markup


def test_the_demo_verification_page_takes_a_typed_code(
    make_provider: Any, clock: FakeClock
) -> None:
    # The page a person uses (Chromium clicks it in test_chromium_consent.py); here its answers.
    provider = make_provider()
    session = device_session(provider, clock)
    seen: list[str] = []

    def then(n: int) -> None:
        code = provider.pending_user_codes[0]
        wrong = httpx.get(provider.verification_url, params={"user_code": "NOPE-NOPE"})
        assert wrong.status_code == 404 and "not valid or has expired" in wrong.text
        page = httpx.get(provider.verification_url, params={"user_code": code.lower()})
        seen.append(page.headers["Content-Security-Policy"])
        assert code in page.text and "Approve" in page.text
        done = httpx.post(provider.verification_url,
                          data={"user_code": code, "decision": "approve"})
        assert "Device approved" in done.text

    connect(session, "tv", view=View(), open_url=lambda url: False, sleep=FakeSleep(clock, then))
    assert seen and "default-src 'none'" in seen[0] and "script-src" not in seen[0]
    assert session.store.load_tokens("tv") is not None


def test_a_normal_device_sign_in_warns_nothing(make_provider: Any, clock: FakeClock) -> None:
    provider = make_provider()
    session = device_session(provider, clock)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NbOAuthWarning)
        connect(session, "tv", view=View(), open_url=lambda url: False,
                sleep=FakeSleep(clock, approve_on(provider, 1)))


def test_the_magics_add_and_connect_a_device_datasource(
    ip: Any, make_provider: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `%datasource add --grant device_code --issuer`, then `connect`; the browser approves on the
    # verification page it is given (the code filled in).
    from nb_oauth.demo.browser import approve
    from nb_oauth.jupyter.magics import load, unload

    provider = make_provider()
    monkeypatch.setattr("webbrowser.open", lambda url, new=0, autoraise=True: approve(url) == 200)
    pauses: list[float] = []
    monkeypatch.setattr("nb_oauth.consent.device._sleeper",
                        lambda cancel: lambda s: (pauses.append(s), clock.advance(s)))
    load(ip, session=Session(now=clock))
    try:
        ip.run_line_magic(
            "datasource",
            f"add tv --grant device_code --issuer {provider.issuer} --base-url "
            f"{provider.api_url} --scopes profile --no-client-secret",
        )
        status = ip.run_line_magic("datasource", "connect tv")
        assert status.connected and pauses == [5]
        out = capsys.readouterr().out
        assert "open " + provider.verification_url + " on any device" in out
        assert ip.run_cell_magic("api", "tv", "GET /api/me")["name"] == "Demo User"
    finally:
        unload(ip)


def test_the_widgets_show_the_code_with_a_countdown_and_cancel(
    make_provider: Any, clock: FakeClock
) -> None:
    # The form's "Save and authorize", the status view's and the error block's Reconnect run the
    # sign-in in a thread: the code with a countdown, and a Cancel that works at once.
    from nb_oauth.jupyter.widgets import StatusArea

    provider = make_provider()
    session = device_session(provider, clock)
    area = StatusArea(session, open_url=lambda url: False)
    area.start_consent("tv")
    tick = threading.Event()
    for _ in range(100):  # the sign-in thread shows the code within 5 s
        if "font-size:2em" in area._link.value:
            break
        tick.wait(0.05)
    code = provider.pending_user_codes[0]
    assert code in area._link.value and provider.verification_url in area._link.value
    assert area._waiting.layout.display is None  # countdown and Cancel shown
    assert area._countdown.value.startswith("Waiting for the sign-in: ")
    area.cancel_consent()
    area.join(5)
    assert area.consent == "cancelled"
    assert area._link.value == "" and session.store.load_tokens("tv") is None

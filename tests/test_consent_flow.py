"""Consent end to end against the demo provider: the test's robot plays the browser, the real
loopback catcher receives the redirect, the real token endpoint redeems the code.
"""

from __future__ import annotations

import socket
import warnings
from typing import Any

import httpx
import pytest

import nb_oauth
from nb_oauth.consent.flow import (
    ConnectResult,
    NoRefreshToken,
    SignInLink,
    connect,
    disconnect,
)
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import AuthorizationDenied, PortInUse, ReauthRequired
from nb_oauth.session import Session
from tests.conftest import BrowserRobot, FakeClock

CLIENT_AUTH = {"demo-public": "none", "demo-basic": "basic", "demo-post": "body"}


class RecordingView:
    """A ConsentView that remembers what the user would have seen."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def waiting(self, sign_in: SignInLink) -> None:
        self.events.append(("waiting", (sign_in.url, sign_in.redirect_uri, sign_in.opened)))

    def finished(self, message: str) -> None:
        self.events.append(("finished", message))

    def ended(self) -> None:
        self.events.append(("ended", None))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


def setup(
    provider: DemoProvider, clock: FakeClock, client_id: str = "demo-public", **fields: Any
) -> Session:
    session = Session(now=clock)
    settings: dict[str, Any] = {
        "name": "demo",
        "token_url": provider.token_url,
        "authorization_url": provider.authorization_url,
        "revocation_url": provider.revocation_url,
        "issuer": provider.issuer,
        "client_id": client_id,
        "client_auth": CLIENT_AUTH[client_id],
        "scopes": "profile items:read",
        "base_url": provider.api_url,
        **fields,
    }
    ds = nb_oauth.Datasource(**settings)
    nb_oauth.save(ds, client_secret=provider.clients[client_id].client_secret, session=session)
    return session


def sign_in(session: Session, robot: BrowserRobot, **kwargs: Any) -> tuple[ConnectResult, Any]:
    view = RecordingView()
    result = connect(session, "demo", view=view, open_url=robot, timeout=30, **kwargs)
    robot.join()
    return result, view


@pytest.mark.parametrize("client_id", ["demo-public", "demo-basic", "demo-post"])
def test_connect_then_call_refresh_rotate_and_disconnect(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot, client_id: str
) -> None:
    provider = make_provider(token_lifetime=600)
    session = setup(provider, clock, client_id)

    result, view = sign_in(session, browser)
    assert result.has_refresh_token
    assert result.granted_scopes == ("profile", "items:read")
    assert str(result).startswith("Connected demo: access token valid for 10 min")
    assert browser.callback_status == 200
    assert view.kinds() == ["waiting", "finished"]
    assert view.events[1][1] == str(result)  # the link is replaced by the outcome (SEC-12)

    with session.client("demo") as api:
        assert api.get("/api/me").json()["client_id"] == client_id
        first_refresh = session.store.load_tokens("demo").refresh_token  # type: ignore[union-attr]

        clock.advance(600 - 59)  # within the 60 s leeway: a proactive refresh (SEC-25)
        assert api.get("/api/items").status_code == 200
        assert provider.counters["token:refresh_token"] == 1
        rotated = session.store.load_tokens("demo").refresh_token  # type: ignore[union-attr]
        assert rotated and rotated != first_refresh  # rotation persisted (SEC-28)

    outcome = disconnect(session, "demo")
    assert outcome.revoked is True
    assert provider.counters["revocations"] == 2  # refresh token, then access token
    assert session.store.load_tokens("demo") is None
    # The provider now refuses the old refresh token (RFC 7009).
    data = {"grant_type": "refresh_token", "refresh_token": rotated.reveal()}
    client = provider.clients[client_id]
    auth = (client_id, client.client_secret) if client_id == "demo-basic" else None
    if client_id != "demo-basic":
        data["client_id"] = client_id
        if client.client_secret:
            data["client_secret"] = client.client_secret
    assert httpx.post(provider.token_url, data=data, auth=auth).json()["error"] == "invalid_grant"
    # And the live client knows it is disconnected.
    with session.client("demo") as api, pytest.raises(ReauthRequired, match="connect"):
        api.get("/api/me")


def test_the_authorization_request_carries_pkce_state_and_the_redirect_uri(
    demo_provider: DemoProvider, demo_clock: FakeClock, browser: BrowserRobot
) -> None:
    session = setup(demo_provider, demo_clock)
    _, view = sign_in(session, browser)
    (url,) = browser.opened
    query = httpx.URL(url).params
    redirect_uri = view.events[0][1][1]
    assert redirect_uri.startswith("http://127.0.0.1:") and redirect_uri.endswith("/callback")
    assert query["redirect_uri"] == redirect_uri
    assert query["code_challenge_method"] == "S256"
    assert query["scope"] == "profile items:read"
    assert len(query["state"]) >= 22


def test_deny_raises_authorization_denied_and_stores_nothing(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider()
    session = setup(provider, clock)
    robot = BrowserRobot(decision="deny")
    with pytest.raises(AuthorizationDenied):
        sign_in(session, robot)
    assert session.store.load_tokens("demo") is None
    assert provider.counters.get("token:authorization_code", 0) == 0  # SEC-17


def test_callback_replayed_after_success_redeems_nothing_twice(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    # SEC-8
    provider = make_provider()
    session = setup(provider, clock)
    sign_in(session, browser)
    assert browser.redirected_to is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(browser.redirected_to)  # the catcher's port is closed (SEC-3)
    assert provider.counters["token:authorization_code"] == 1


def test_missing_refresh_token_warns_with_hints_then_asks_to_reconnect(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    provider = make_provider(issue_refresh_token=False, token_lifetime=300)
    session = setup(provider, clock)
    with pytest.warns(NoRefreshToken, match="offline_access") as warned:
        result, _ = sign_in(session, browser)
    assert "access_type=offline" in str(warned[0].message)
    assert "NO refresh token" in str(result)
    with session.client("demo") as api:
        assert api.get("/api/me").status_code == 200
        clock.advance(300)
        with pytest.raises(ReauthRequired) as raised:
            api.get("/api/me")
    message = str(raised.value)
    assert "\n" not in message
    assert "reconnect: run nb_oauth.connect('demo')" in message


def test_busy_redirect_port_fails_before_any_browser_opens(
    demo_provider: DemoProvider, demo_clock: FakeClock, browser: BrowserRobot
) -> None:
    # SEC-2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        session = setup(demo_provider, demo_clock, redirect_port=busy.getsockname()[1])
        with pytest.raises(PortInUse):
            sign_in(session, browser)
    assert browser.opened == []


def test_fixed_redirect_port_is_used(
    demo_provider: DemoProvider, demo_clock: FakeClock, browser: BrowserRobot
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = setup(demo_provider, demo_clock, redirect_port=port)
    _, view = sign_in(session, browser)
    assert view.events[0][1][1] == f"http://127.0.0.1:{port}/callback"


def test_no_browser_shows_the_link_offers_paste_and_keeps_waiting(
    demo_provider: DemoProvider, demo_clock: FakeClock, browser: BrowserRobot
) -> None:
    # SEC-12: webbrowser found nothing; the user clicks the displayed link instead.
    session = setup(demo_provider, demo_clock)
    view = RecordingView()

    def no_browser(url: str) -> bool:
        browser(url)  # the user opening the link by hand
        return False

    connect(session, "demo", view=view, open_url=no_browser, timeout=30)
    browser.join()
    assert view.kinds() == ["waiting", "finished"]
    assert view.events[0][1][2] is False  # the link says that no browser opened
    assert session.store.load_tokens("demo") is not None


def test_paste_path_validates_then_accepts_the_redirected_url(
    demo_provider: DemoProvider, demo_clock: FakeClock
) -> None:
    # SEC-11: a remote kernel; the robot stops at the redirect, the "user" pastes it.
    session = setup(demo_provider, demo_clock)
    robot = BrowserRobot(deliver=False)
    answers: list[str] = []

    def read_redirect(prompt: str) -> str:
        answers.append(prompt)
        url = robot.wait_for_redirect()
        if len(answers) == 1:
            return url.replace("state=", "state=tampered")  # rejected, asked again
        return url

    view = RecordingView()
    result = connect(
        session, "demo", view=view, paste=True, open_url=robot, read_redirect=read_redirect
    )
    robot.join()
    assert result.has_refresh_token
    assert len(answers) == 2
    assert "did not work" in answers[1]
    assert "code=" not in "".join(answers)  # the pasted URL is never echoed (SEC-44)


def test_connect_is_a_no_op_for_client_credentials(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    # SPEC section 9: "a no-op for client credentials".
    provider = make_provider()
    session = Session(now=clock)
    ds = nb_oauth.Datasource(
        name="svc",
        grant="client_credentials",
        token_url=provider.token_url,
        client_id="demo-basic",
        base_url=provider.api_url,
    )
    nb_oauth.save(ds, client_secret="demo-basic-secret", session=session)
    view = RecordingView()
    result = connect(session, "svc", view=view, open_url=browser)
    assert not result.needs_consent
    assert "no consent needed" in str(result)
    assert browser.opened == [] and view.events == []
    assert provider.counters == {}
    with session.client("svc") as api:
        assert api.get("/api/me").status_code == 200
    assert provider.counters["token:client_credentials"] == 1


def test_disconnect_without_revocation_url_wipes_locally_and_says_so(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    provider = make_provider()
    session = setup(provider, clock, revocation_url=None)
    sign_in(session, browser)
    outcome = disconnect(session, "demo")
    assert outcome.revoked is None
    assert "No revocation_url" in str(outcome)
    assert session.store.load_tokens("demo") is None
    assert provider.counters.get("revocations", 0) == 0


def test_disconnect_when_the_provider_is_unreachable_still_wipes_locally(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    # SEC-35: a network error means "may still be live"; local tokens go anyway.
    provider = make_provider()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    session = setup(provider, clock, revocation_url=f"http://127.0.0.1:{closed}/revoke")
    sign_in(session, browser)
    outcome = disconnect(session, "demo")
    assert outcome.revoked is False
    assert "may still be live" in str(outcome)
    assert session.store.load_tokens("demo") is None


def test_public_api_connect_uses_the_console_view_outside_a_kernel(
    demo_provider: DemoProvider,
    demo_clock: FakeClock,
    browser: BrowserRobot,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    session = setup(demo_provider, demo_clock)
    monkeypatch.setattr("webbrowser.open", lambda url, new=0: browser(url))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = nb_oauth.connect("demo", session=session, timeout=30)
    browser.join()
    out = capsys.readouterr().out
    assert "Sign in in the browser tab that opened" in out
    assert "Redirect URI to register at the provider: http://127.0.0.1:" in out
    assert str(result) in out
    assert nb_oauth.disconnect("demo", session=session).revoked is True


def test_notebook_view_shows_a_new_tab_link_then_replaces_it(ip: Any) -> None:
    # SPEC section 2 and SEC-12: a clickable link with target=_blank, gone once the flow ends.
    from IPython.utils.capture import capture_output

    from nb_oauth.jupyter.display import NotebookConsentView

    url = "https://as.example/authorize?client_id=c&state=s<&>"
    view = NotebookConsentView()
    with capture_output() as captured:
        view.waiting(SignInLink("demo", url, "http://127.0.0.1:5/callback", 60, False, True))
        view.finished("Connected demo")
    shown, replaced = (output.data["text/html"] for output in captured.outputs)
    assert 'target="_blank"' in shown
    assert "state=s&lt;&amp;&gt;" in shown
    assert "http://127.0.0.1:5/callback" in shown
    assert "Connected demo" in replaced
    assert "authorize" not in replaced


# -- negative paths against the real provider: no token request where none may be made -----------


def _with(url: str, **changes: str) -> str:
    parsed = httpx.URL(url)
    params = dict(parsed.params)
    params.update(changes)
    return str(parsed.copy_with(params=params))


def _without(url: str, name: str) -> str:
    return str(httpx.URL(url).copy_remove_param(name))


@pytest.mark.parametrize(
    ("name", "tamper", "statuses"),
    [
        # SEC-4: strays first, then the real redirect.
        (
            "strays",
            lambda u: [(str(httpx.URL(u).copy_with(path="/favicon.ico", query=None)), {}), (u, {})],
            [{404}, {200}],
        ),
        # SEC-5: a forged response (wrong, then missing state) cannot end the wait.
        (
            "wrong_state",
            lambda u: [(_with(u, state="forged"), {}), (_without(u, "state"), {}), (u, {})],
            [{400}, {400}, {200}],
        ),
        # SEC-6: DNS rebinding: a foreign Host is refused, the real redirect still works.
        (
            "rebinding",
            lambda u: [(u, {"Host": "evil.example"}), (u, {})],
            [{403}, {200}],
        ),
        # SEC-8: a replayed callback after success: "already finished" (410), or refused once
        # the flow has closed the port (0).
        ("replay", lambda u: [(u, {}), (u, {})], [{200}, {410, 0}]),
    ],
)
def test_hostile_or_stray_requests_never_cause_an_extra_token_request(
    make_provider: Any,
    clock: FakeClock,
    name: str,
    tamper: Any,
    statuses: list[set[int]],
) -> None:
    provider = make_provider()
    session = setup(provider, clock)
    robot = BrowserRobot(tamper=tamper)
    sign_in(session, robot)
    assert len(robot.callback_statuses) == len(statuses)
    for got, allowed in zip(robot.callback_statuses, statuses, strict=True):
        assert got in allowed, (name, robot.callback_statuses)
    assert provider.counters["token:authorization_code"] == 1
    assert session.store.load_tokens("demo") is not None


@pytest.mark.parametrize(
    "iss",
    ["https://evil.example", "TRAILING-SLASH", None],
    ids=["other_issuer", "trailing_slash", "removed_though_metadata_promises_it"],
)
def test_wrong_iss_is_refused_without_a_token_request(
    make_provider: Any, clock: FakeClock, iss: str | None
) -> None:
    # SEC-15: the demo provider sends iss and says so in its metadata (RFC 9207 §3); a different
    # or missing iss means a mix-up.
    from nb_oauth.consent.request import IssuerMismatch

    provider = make_provider()
    session = setup(provider, clock)
    value = provider.issuer + "/" if iss == "TRAILING-SLASH" else iss

    def tamper(url: str) -> list[tuple[str, dict[str, str]]]:
        return [(_without(url, "iss") if value is None else _with(url, iss=value), {})]

    robot = BrowserRobot(tamper=tamper)
    with pytest.raises(IssuerMismatch):
        sign_in(session, robot)
    assert provider.counters.get("token:authorization_code", 0) == 0
    assert session.store.load_tokens("demo") is None


def test_without_an_issuer_setting_iss_is_not_checked(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider()
    session = setup(provider, clock, issuer=None)
    robot = BrowserRobot(tamper=lambda url: [(_with(url, iss="https://other.example"), {})])
    sign_in(session, robot)
    assert provider.counters["token:authorization_code"] == 1


def test_timeout_raises_and_makes_no_token_request(make_provider: Any, clock: FakeClock) -> None:
    # SEC-9: nobody comes back; the flow ends at its deadline with the paste hint.
    from nb_oauth.errors import CallbackTimeout

    provider = make_provider()
    session = setup(provider, clock)
    with pytest.raises(CallbackTimeout, match="paste"):
        connect(session, "demo", view=RecordingView(), open_url=lambda url: True, timeout=0.3)
    assert provider.counters.get("token:authorization_code", 0) == 0


def test_browser_environment_variable_receives_the_url(
    make_provider: Any, tmp_path: Any
) -> None:
    # SPEC section 9: BROWSER is honoured through webbrowser. The "browser" is a script that
    # approves on the consent page and follows the redirect, in another process.
    import os
    import subprocess
    import sys
    import textwrap

    provider = make_provider()
    seen = tmp_path / "url-seen-by-browser.txt"
    script = tmp_path / "fake-browser"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""
            import sys, httpx
            url = sys.argv[-1]
            open({str(seen)!r}, "w").write(url)
            with httpx.Client() as browser:
                page = browser.post(url, data={{"decision": "approve"}})
                browser.get(page.headers["location"])
            """
        )
    )
    script.chmod(0o755)
    program = textwrap.dedent(
        f"""
        import nb_oauth
        ds = nb_oauth.Datasource(
            name="demo", token_url={provider.token_url!r},
            authorization_url={provider.authorization_url!r}, client_id="demo-public",
            client_auth="none", base_url={provider.api_url!r})
        nb_oauth.save(ds)
        result = nb_oauth.connect("demo", timeout=30)
        with nb_oauth.client("demo") as api:
            print("API", api.get("/api/me").json()["client_id"])
        """
    )
    # The default session is keyring-backed; this test is about the browser, so it keeps the
    # user's keyring and config out of it with session-only storage (SEC-38).
    env = {**os.environ, "BROWSER": str(script), "NB_OAUTH_SESSION_ONLY": "1"}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "API demo-public" in done.stdout
    assert seen.read_text().startswith(provider.authorization_url + "?")
    assert provider.counters["token:authorization_code"] == 1


def test_resource_is_sent_on_the_authorization_request(
    demo_provider: DemoProvider, demo_clock: FakeClock, browser: BrowserRobot
) -> None:
    # RFC 8707 §2.1; the demo provider ignores it, the sign-in still completes.
    session = setup(demo_provider, demo_clock, resource=demo_provider.api_url)
    sign_in(session, browser)
    (url,) = browser.opened
    assert httpx.URL(url).params["resource"] == demo_provider.api_url
    assert session.store.load_tokens("demo") is not None


def test_narrower_granted_scopes_warn_with_both_and_the_sign_in_stands(
    demo_provider: DemoProvider, demo_clock: FakeClock, browser: BrowserRobot
) -> None:
    # The demo provider grants only the scopes it knows: "admin" is dropped.
    from nb_oauth.consent.flow import NarrowerScopes

    session = setup(demo_provider, demo_clock, scopes="profile admin")
    with pytest.warns(NarrowerScopes) as record:
        result, _ = sign_in(session, browser)
    message = str(record[0].message)
    assert "asked: profile admin" in message
    assert "granted: profile" in message and "admin" not in message.split("granted: ")[1]
    assert session.store.load_tokens("demo") is not None
    assert result.datasource == "demo"

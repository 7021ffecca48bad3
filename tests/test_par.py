"""Pushed authorization requests (RFC 9126, SPEC section 14) against the demo provider's /par
endpoint, with the real loopback catcher and the test's robot as the browser."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import nb_oauth
from nb_oauth.consent.flow import connect
from nb_oauth.consent.par import pushed_if_needed
from nb_oauth.consent.request import AuthorizationRequest
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import ConfigError, PushedAuthorizationError
from nb_oauth.session import Session
from tests.conftest import BrowserRobot, FakeClock, QuietView
from tests.test_private_key_jwt import EC_PEM, key_client

SECRETS = {"demo-basic": "demo-basic-secret", "demo-public": None}


def setup(provider: DemoProvider, clock: FakeClock, client_id: str = "demo-basic",
          **fields: Any) -> Session:
    session = Session(now=clock)
    settings: dict[str, Any] = {
        "name": "crm", "token_url": provider.token_url,
        "authorization_url": provider.authorization_url, "issuer": provider.issuer,
        "client_id": client_id, "client_auth": "basic" if SECRETS.get(client_id) else "none",
        "scopes": "profile items:read", "base_url": provider.api_url,
        "auth_params": {"prompt": "consent"}, **fields,
    }
    ds = nb_oauth.Datasource(**settings)
    if ds.client_auth == "private_key_jwt":
        session.save(ds, private_key=EC_PEM)
    else:
        session.save(ds, client_secret=SECRETS[client_id])
    return session


def sign_in(session: Session, browser: BrowserRobot) -> Any:
    result = connect(session, "crm", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    return result


def opened_params(browser: BrowserRobot) -> dict[str, list[str]]:
    (url,) = browser.opened
    return parse_qs(urlsplit(url).query)


@pytest.mark.parametrize("client_id", ["demo-basic", "demo-public"])
def test_a_server_that_requires_par_gets_pushed_requests_and_the_sign_in_works(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot, client_id: str
) -> None:
    # par=None (the default) follows the metadata's require_pushed_authorization_requests.
    provider = make_provider(require_par=True)
    session = setup(provider, clock, client_id)
    result = sign_in(session, browser)
    assert result.has_refresh_token and browser.callback_status == 200
    params = opened_params(browser)
    # The browser gets client_id and request_uri only: no state, PKCE or redirect URI.
    assert set(params) == {"client_id", "request_uri"}
    assert params["client_id"] == [client_id]
    assert params["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
    counters = provider.counters
    assert counters["par_requests"] == 1 and counters["token:authorization_code"] == 1
    with session.client("crm") as api:
        assert api.get("/api/me").status_code == 200


def test_without_par_a_server_that_requires_it_refuses_the_browser(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider(require_par=True)
    session = setup(provider, clock, par=False)
    browser = BrowserRobot(deliver=False)
    with pytest.raises(nb_oauth.CallbackTimeout):
        connect(session, "crm", view=QuietView(), open_url=browser, timeout=0.5)
    browser.join()
    assert "state" in opened_params(browser)  # not pushed
    assert provider.counters.get("par_requests", 0) == 0
    assert provider.counters.get("token:authorization_code", 0) == 0


def test_par_true_pushes_everything_with_private_key_jwt(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    # SPEC section 14: PKCE, state, scope, resource and auth_params all go to the PAR endpoint,
    # authenticated like a token request (here with a client assertion).
    provider = make_provider()
    key_client(provider, EC_PEM)
    session = setup(provider, clock, "key-client", client_auth="private_key_jwt", par=True)
    ds = session.datasource("crm")
    request = AuthorizationRequest(ds, "http://127.0.0.1:5555/callback")
    pushed = pushed_if_needed(request, session.store.load_secret("crm"))
    assert pushed.state == request.state and pushed.pkce == request.pkce
    assert set(parse_qs(urlsplit(pushed.url).query)) == {"client_id", "request_uri"}
    assert {"state", "code_challenge", "scope", "prompt", "redirect_uri"} <= set(request.params)
    assert provider.counters["assertion:private_key_jwt"] == 1

    result = sign_in(session, browser)
    assert result.has_refresh_token
    assert set(opened_params(browser)) == {"client_id", "request_uri"}
    # PAR, then the code redemption: two assertions more.
    assert provider.counters["assertion:private_key_jwt"] == 3


def test_a_refusing_par_endpoint_is_one_line_and_no_browser_opens(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    provider = make_provider(par_refuse=True)
    session = setup(provider, clock, par=True)
    with pytest.raises(PushedAuthorizationError) as info:
        sign_in(session, browser)
    message = str(info.value)
    assert "invalid_request" in message and "pushed authorization request of crm" in message
    assert "set par=False" in message and "\n" not in message
    assert browser.opened == [] and session.store.load_tokens("crm") is None


def test_wrong_client_credentials_at_the_par_endpoint_are_refused(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    provider = make_provider()
    session = setup(provider, clock, par=True)
    session.save(session.datasource("crm"), client_secret="wrong-secret")
    with pytest.raises(PushedAuthorizationError, match="invalid_client"):
        sign_in(session, browser)
    assert browser.opened == []


def test_par_true_without_an_endpoint_says_what_to_do(clock: FakeClock) -> None:
    session = Session(now=clock)
    ds = nb_oauth.Datasource(name="crm", token_url="http://127.0.0.1:9/token",
                             authorization_url="http://127.0.0.1:9/authorize",
                             client_id="c", client_auth="none", par=True)
    session.save(ds)
    with pytest.raises(ConfigError) as info:
        pushed_if_needed(AuthorizationRequest(ds, "http://127.0.0.1:5555/callback"), None)
    assert info.value.field == "par"
    assert "(crm)" in str(info.value) and "give par_url" in str(info.value)


def test_par_url_is_used_without_metadata_and_answers_are_checked(
    make_provider: Any, clock: FakeClock
) -> None:
    # What a misbehaving PAR endpoint may answer, judged on the responses themselves.
    from nb_oauth.consent.par import _request_uri

    ok = httpx.Response(201, json={"request_uri": "urn:x", "expires_in": 60})
    assert _request_uri("crm", ok) == "urn:x"
    for bad in (httpx.Response(201, text="<html>"), httpx.Response(201, json={"expires_in": 5}),
                httpx.Response(400, json={"error": "invalid_request"})):
        with pytest.raises(PushedAuthorizationError, match="crm"):
            _request_uri("crm", bad)
    provider = make_provider()
    session = Session(now=clock)
    ds = nb_oauth.Datasource(name="crm", token_url=provider.token_url,
                             authorization_url=provider.authorization_url,
                             client_id="demo-public", client_auth="none", par=True,
                             par_url=f"{provider.issuer}/par")
    session.save(ds)
    pushed = pushed_if_needed(AuthorizationRequest(ds, "http://127.0.0.1:5555/callback"), None)
    assert pushed.request_uri is not None and provider.counters["par_requests"] == 1


def test_par_field_values() -> None:
    base = {"name": "x", "token_url": "https://as.example/t", "client_id": "c",
            "authorization_url": "https://as.example/a"}
    assert nb_oauth.Datasource(**base).par is None
    assert nb_oauth.Datasource(**base, par="true").par is True
    assert nb_oauth.Datasource(**base, par="never").par is False
    assert nb_oauth.Datasource.from_config(nb_oauth.Datasource(**base, par=True)
                                           .to_config()).par is True
    with pytest.raises(ConfigError, match="par: 'sometimes' is not supported"):
        nb_oauth.Datasource(**base, par="sometimes")


def test_par_works_with_the_server_callback(
    make_provider: Any, clock: FakeClock, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SPEC section 14: PAR with the Jupyter server extension's callback; the server's part is
    # played by Handover.deliver, as in tests/test_handover.py.
    import threading

    from nb_oauth.handover import FOLDER_NAME, Delivery, Handover

    runtime = tmp_path / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    redirect = "http://127.0.0.1:8888/user/alice/nb-oauth/callback"
    provider = make_provider(redirect_uris=(redirect,), require_par=True)
    session = setup(provider, clock, "demo-public", redirect_uri=redirect)
    robot = BrowserRobot(deliver=False)
    served: list[Delivery] = []

    def server() -> None:
        query = urlsplit(robot.wait_for_redirect(30)).query
        served.append(Handover(runtime / FOLDER_NAME).deliver(query)[0])

    thread = threading.Thread(target=server, daemon=True)
    thread.start()
    result = connect(session, "crm", view=QuietView(), open_url=robot, timeout=30)
    thread.join(10)
    assert served == [Delivery.DELIVERED] and result.has_refresh_token
    assert result.via == "the Jupyter server's callback"
    assert set(parse_qs(urlsplit(robot.opened[0]).query)) == {"client_id", "request_uri"}
    assert provider.counters["par_requests"] == 1

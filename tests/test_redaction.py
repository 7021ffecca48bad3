"""No repr, str, exception text or log line shows an access token, refresh token or client secret
(SEC-41, SEC-42, SEC-43). Canary values are planted; every rendering is searched for them."""

from __future__ import annotations

import base64
import logging
import traceback

import httpx
import pytest

import nb_oauth.errors as errors
from nb_oauth.datasource import Datasource
from nb_oauth.errors import SecurityWarning
from nb_oauth.logs import RedactingFilter
from nb_oauth.secret import Secret
from nb_oauth.session import Session
from nb_oauth.tokens import TokenSet

API = "https://api.example"
TOKEN_URL = "https://as.example/token"
AT1, AT2 = "CANARY-AT1-5f1d", "CANARY-AT2-77ab"
RT1, RT2 = "CANARY-RT1-0c9e", "CANARY-RT2-9d41"
CLIENT_SECRET = "CANARY-CS-3a8b"
CANARIES = (AT1, AT2, RT1, RT2, CLIENT_SECRET)


def _leaks(text: str) -> list[str]:
    basic = base64.b64encode(f"client:{CLIENT_SECRET}".encode()).decode()
    return [canary for canary in (*CANARIES, basic) if canary in text]


def _session(clock, placement: str = "header") -> Session:
    session = Session(now=clock)
    session.save(
        Datasource(name="crm", token_url=TOKEN_URL, authorization_url="https://as.example/a",
                   client_id="client", base_url=API, token_placement=placement),  # type: ignore[arg-type]
        client_secret=CLIENT_SECRET,
    )  # fmt: skip
    session.store.save_tokens(
        "crm",
        TokenSet(access_token=Secret(AT1), refresh_token=Secret(RT1), expires_at=clock() + 36_000,
                 obtained_at=clock()),
    )  # fmt: skip
    return session


def _token(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": AT2, "refresh_token": RT2, "token_type": "Bearer",
                   "expires_in": 36_000},
    )  # fmt: skip


def test_reprs_of_auth_client_store_and_session_show_no_secret_sec_41(clock) -> None:
    session = _session(clock)
    auth = session.auth("crm")
    with session.client("crm", transport=httpx.MockTransport(_token)) as api:
        rendered = [repr(auth), str(auth), repr(api), repr(session), repr(session.store),
                    repr(session.store.load_tokens("crm")), str(vars(auth))]  # fmt: skip
    assert _leaks("\n".join(rendered)) == []
    for obj in (auth, session.store):
        with pytest.raises(TypeError):
            import pickle

            pickle.dumps(obj)


def _render(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + str(error) + repr(error)


def test_exceptions_from_a_query_token_flow_show_no_secret_sec_42(clock) -> None:
    session = _session(clock, placement="query")

    def server(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            # A server that echoes what it got, in the description and in the body.
            body = request.content.decode()
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": body})
        return httpx.Response(500, text=f"failed for {request.url}")

    with pytest.warns(SecurityWarning):
        api = session.client("crm", transport=httpx.MockTransport(server))
    rendered = []
    with api:
        response = api.get("/me")
        with pytest.raises(httpx.HTTPStatusError) as status_error:
            response.raise_for_status()
        rendered.append(_render(status_error.value))
        clock.advance(36_000)
        with pytest.raises(errors.ReauthRequired) as reauth:
            api.get("/me")
        rendered.append(_render(reauth.value))
    assert reauth.value.request.url.params.get("access_token") is None
    assert _leaks("\n".join(rendered)) == []


def test_logs_of_a_query_flow_with_refresh_and_401_retry_show_no_secret_sec_43(
    clock, make_provider, caplog: pytest.LogCaptureFixture
) -> None:
    # A real socket transport (httpcore logs too) against the demo provider.
    from tests.test_client_integration import connect, user_datasource

    provider = make_provider(auto_approve=True, token_lifetime=600)
    session = Session(now=clock)
    connect(session, user_datasource(provider, token_placement="query"), clock)
    secrets = ["demo-basic-secret"]
    caplog.set_level(logging.DEBUG)
    with pytest.warns(SecurityWarning):
        api = session.client("demo")
    with api:
        tokens = session.store.load_tokens("demo")
        secrets += [tokens.access_token.reveal(), tokens.refresh_token.reveal()]
        api.get("/api/me").raise_for_status()
        clock.advance(600)  # proactive refresh
        api.get("/api/me").raise_for_status()
        tokens = session.store.load_tokens("demo")
        secrets += [tokens.access_token.reveal(), tokens.refresh_token.reveal()]
        httpx.post(provider.revocation_url, data={"token": secrets[-2]},
                   auth=("demo-basic", "demo-basic-secret")).raise_for_status()  # fmt: skip
        api.get("/api/me").raise_for_status()  # 401, refresh, replay
        tokens = session.store.load_tokens("demo")
        secrets += [tokens.access_token.reveal(), tokens.refresh_token.reveal()]
    assert provider.counters["api_401"] == 1
    assert provider.counters["token:refresh_token"] == 2
    httpx_records = [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
    assert any("HTTP Request" in r.getMessage() for r in httpx_records)
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.msg!r}" for r in httpx_records)
    assert [secret for secret in secrets if secret in text] == []


def test_log_filter_masks_query_values_and_authorization_but_keeps_the_rest() -> None:
    scrub = RedactingFilter(params=["token"], schemes=["Token"]).scrub
    line = (
        f"GET https://api.example/x?page=2&token={AT1}&code=abc "
        f"(b'Authorization', b'Token {AT2}') Bearer {AT1}"
    )
    scrubbed = scrub(line)
    assert _leaks(scrubbed) == []
    assert "page=2" in scrubbed and "token=***" in scrubbed and "code=***" in scrubbed

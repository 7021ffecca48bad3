"""The auth flow driven by hand with next/send, like httpx's tests/test_auth.py: no network, no
client, no sleeping (SEC-22..26, 30, 32, 33, 47)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from nb_oauth.bearer import Verdict, classify, parse_challenges
from nb_oauth.datasource import Datasource
from nb_oauth.errors import InsufficientScope, ReauthRequired, SecurityWarning
from nb_oauth.oauth2_auth import OAuth2Auth
from nb_oauth.secret import Secret
from nb_oauth.store import MemoryStore
from nb_oauth.tokens import TokenSet

API = "https://api.example"
TOKEN_URL = "https://as.example/token"
LONG = 36_000.0  # a long lifetime, so TokenSet's half-lifetime cap leaves the 60 s leeway intact


def make_datasource(**changes: object) -> Datasource:
    fields: dict[str, object] = {
        "name": "crm",
        "token_url": TOKEN_URL,
        "authorization_url": "https://as.example/authorize",
        "client_id": "client",
        "base_url": API,
    }
    fields.update(changes)
    return Datasource(**fields)  # type: ignore[arg-type]


def user_tokens(now: float, *, access: str = "AT1", refresh: str | None = "RT1") -> TokenSet:
    return TokenSet(
        access_token=Secret(access),
        expires_at=now + LONG,
        refresh_token=Secret(refresh) if refresh else None,
        obtained_at=now,
    )


def token_reply(access: str = "AT2", refresh: str | None = None) -> httpx.Response:
    body: dict[str, object] = {"access_token": access, "token_type": "Bearer", "expires_in": LONG}
    if refresh:
        body["refresh_token"] = refresh
    return httpx.Response(200, json=body)


def make_auth(clock: Callable[[], float], **changes: object) -> tuple[OAuth2Auth, MemoryStore]:
    store = MemoryStore()
    datasource = make_datasource(**changes)
    store.save_datasource(datasource)
    store.save_secret("crm", Secret("s3cret"))
    if datasource.grant == "authorization_code":
        store.save_tokens("crm", user_tokens(clock()))
    return OAuth2Auth(datasource, store=store, now=clock), store


Responder = Callable[[httpx.Request], httpx.Response]


def drive(auth: OAuth2Auth, request: httpx.Request, respond: Responder) -> list[httpx.Request]:
    """Run the flow to its end, answering each yielded request; return what was sent."""
    sent: list[httpx.Request] = []
    flow = auth.auth_flow(request)
    outgoing = next(flow)
    while True:
        sent.append(outgoing)
        try:
            outgoing = flow.send(respond(outgoing))
        except StopIteration:
            return sent


def server(api: Responder, token: Callable[[], httpx.Response] = token_reply) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        return token() if str(request.url) == TOKEN_URL else api(request)

    return respond


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


def token_calls(sent: list[httpx.Request]) -> list[dict[str, list[str]]]:
    return [parse_qs(r.content.decode()) for r in sent if str(r.url) == TOKEN_URL]


def test_header_placement_sends_bearer_token_and_leaves_url_alone(clock) -> None:
    auth, _ = make_auth(clock)
    sent = drive(auth, httpx.Request("GET", f"{API}/items?page=2"), server(ok))
    assert len(sent) == 1
    assert sent[0].headers["Authorization"] == "Bearer AT1"
    assert str(sent[0].url) == f"{API}/items?page=2"


def test_header_placement_uses_the_configured_prefix(clock) -> None:
    auth, _ = make_auth(clock, header_prefix="Token")
    [sent] = drive(auth, httpx.Request("GET", f"{API}/me"), server(ok))
    assert sent.headers["Authorization"] == "Token AT1"


def test_query_placement_warns_and_sends_no_store_sec_33(clock) -> None:
    with pytest.warns(SecurityWarning, match="RFC 9700"):
        auth, _ = make_auth(clock, token_placement="query", query_param="token")
    [sent] = drive(auth, httpx.Request("GET", f"{API}/me?x=1"), server(ok))
    assert sent.url.params["token"] == "AT1"
    assert sent.url.params["x"] == "1"
    assert sent.headers["Cache-Control"] == "no-store"
    assert "Authorization" not in sent.headers


def test_another_origin_gets_no_token_sec_32(clock) -> None:
    auth, _ = make_auth(clock)
    [sent] = drive(auth, httpx.Request("GET", "https://other.example/me"), server(ok))
    assert "Authorization" not in sent.headers


def test_proactive_refresh_at_59_seconds_before_expiry_sec_25(clock) -> None:
    auth, store = make_auth(clock)
    clock.advance(LONG - 59)
    sent = drive(auth, httpx.Request("GET", f"{API}/me"), server(ok))
    assert [str(r.url) for r in sent] == [TOKEN_URL, f"{API}/me"]
    assert token_calls(sent)[0]["grant_type"] == ["refresh_token"]
    assert sent[1].headers["Authorization"] == "Bearer AT2"
    assert store.load_tokens("crm").access_token == Secret("AT2")


def test_no_refresh_at_61_seconds_before_expiry_sec_25(clock) -> None:
    auth, _ = make_auth(clock)
    clock.advance(LONG - 61)
    sent = drive(auth, httpx.Request("GET", f"{API}/me"), server(ok))
    assert [str(r.url) for r in sent] == [f"{API}/me"]


def test_refresh_without_new_refresh_token_keeps_the_old_one_sec_23(clock) -> None:
    auth, store = make_auth(clock)
    clock.advance(LONG)
    drive(auth, httpx.Request("GET", f"{API}/me"), server(ok))
    assert store.load_tokens("crm").refresh_token == Secret("RT1")


def test_rotated_refresh_token_is_stored_sec_28(clock) -> None:
    auth, store = make_auth(clock)
    clock.advance(LONG)
    drive(auth, httpx.Request("GET", f"{API}/me"), server(ok, lambda: token_reply("AT2", "RT2")))
    assert store.load_tokens("crm").refresh_token == Secret("RT2")


def test_refresh_happens_once_on_401_then_replays_once_sec_26(clock) -> None:
    auth, _ = make_auth(clock)

    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer AT1":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx.Response(200)

    sent = drive(auth, httpx.Request("GET", f"{API}/me"), server(api))
    assert [str(r.url) for r in sent] == [f"{API}/me", TOKEN_URL, f"{API}/me"]
    assert sent[2].headers["Authorization"] == "Bearer AT2"


def test_api_that_always_answers_401_gets_two_calls_and_one_refresh_then_raises_sec_26(
    clock,
) -> None:
    auth, _ = make_auth(clock)
    sent: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if str(request.url) == TOKEN_URL:
            return token_reply()
        return httpx.Response(401)

    with pytest.raises(ReauthRequired) as raised:
        drive(auth, httpx.Request("GET", f"{API}/me"), respond)
    assert raised.value.reason == "rejected"
    assert len([r for r in sent if str(r.url) != TOKEN_URL]) == 2
    assert len(token_calls(sent)) == 1
    assert isinstance(raised.value, httpx.HTTPError)


def test_401_without_a_refresh_token_asks_for_a_reconnect(clock) -> None:
    auth, store = make_auth(clock)
    store.save_tokens("crm", user_tokens(clock(), refresh=None))
    with pytest.raises(ReauthRequired, match="connect") as raised:
        drive(auth, httpx.Request("GET", f"{API}/me"), server(lambda r: httpx.Response(401)))
    assert raised.value.reason == "no_refresh_token"


def test_403_insufficient_scope_never_refreshes_sec_26(clock) -> None:
    auth, _ = make_auth(clock)
    sent: list[httpx.Request] = []
    challenge = 'Bearer error="insufficient_scope", error_description="needs items:write"'

    def respond(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(403, headers={"WWW-Authenticate": challenge})

    with pytest.raises(InsufficientScope, match="needs items:write"):
        drive(auth, httpx.Request("POST", f"{API}/items"), respond)
    assert len(sent) == 1


@pytest.mark.parametrize("status", [404, 500, 400, 403])
def test_other_errors_pass_through_without_refresh_sec_47(clock, status: int) -> None:
    auth, _ = make_auth(clock)
    responses: list[httpx.Response] = []

    def api(request: httpx.Request) -> httpx.Response:
        responses.append(httpx.Response(status))
        return responses[-1]

    sent = drive(auth, httpx.Request("GET", f"{API}/me"), server(api))
    assert token_calls(sent) == []
    assert len(sent) == 1


@pytest.mark.parametrize(
    "challenge",
    [
        'Bearer realm="x", error="invalid_token", error_description="The token expired"',
        "bearer error=invalid_token",
        'Basic realm="other", BEARER Error="invalid_token"',
        "Bearer",
        '"""=,,==\\',
        None,
    ],
)
def test_www_authenticate_variants_trigger_the_single_refresh_sec_47(
    clock, challenge: str | None
) -> None:
    auth, _ = make_auth(clock)
    headers = {} if challenge is None else {"WWW-Authenticate": challenge}

    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer AT1":
            return httpx.Response(401, headers=headers)
        return httpx.Response(200)

    sent = drive(auth, httpx.Request("GET", f"{API}/me"), server(api))
    assert len(token_calls(sent)) == 1


def test_401_with_another_bearer_error_does_not_refresh(clock) -> None:
    auth, _ = make_auth(clock)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_request"'}
    refuse = server(lambda r: httpx.Response(401, headers=headers))
    sent = drive(auth, httpx.Request("GET", f"{API}/me"), refuse)
    assert token_calls(sent) == []


def test_streamed_upload_is_not_replayed_after_401_sec_26(clock) -> None:
    auth, _ = make_auth(clock)
    request = httpx.Request("POST", f"{API}/items", content=iter([b"chunk"]))
    sent = drive(auth, request, server(lambda r: httpx.Response(401)))
    assert len(sent) == 1


def test_client_credentials_fetch_on_first_use_and_again_on_expiry_sec_30(clock) -> None:
    auth, store = make_auth(clock, grant="client_credentials", authorization_url=None)
    with_refresh_token = server(ok, lambda: token_reply("AT1", "RT-X"))
    first = drive(auth, httpx.Request("GET", f"{API}/me"), with_refresh_token)
    assert token_calls(first)[0]["grant_type"] == ["client_credentials"]
    assert store.load_tokens("crm").refresh_token is None  # RFC 6749 §4.4.3: ignored
    clock.advance(LONG)
    again = drive(auth, httpx.Request("GET", f"{API}/me"), server(ok))
    [call] = token_calls(again)
    assert call["grant_type"] == ["client_credentials"]
    assert "refresh_token" not in call


def test_challenge_parser_never_raises_on_garbage() -> None:
    for header in ["", ",,,", '"', "=", "Bearer =", 'a="\\', "\x00\xff", "x" * 20000]:
        parse_challenges([header])
    assert classify(401, ["\x00garbage"]) is Verdict.RENEW


@pytest.mark.parametrize(
    "url",
    [
        "https://API.example.com/v1?x=1",
        "https://api.example.com:443/",
        "http://127.0.0.1:8080/a",
        "http://[::1]:9000/b",
        "https://api.example.com:8443/",
        "http://localhost/",
    ],
)
def test_httpx_url_origin_agrees_with_the_pure_origin(url: str) -> None:
    # The hot path reads httpx's parsed URL; it must decide exactly as bearer.origin does (SEC-32).
    from nb_oauth.bearer import origin
    from nb_oauth.redirects import url_origin

    assert url_origin(httpx.URL(url)) == origin(url)


def test_header_token_is_set_on_the_request_and_masked_in_its_repr(clock) -> None:
    auth, _ = make_auth(clock)
    sent = next(auth.auth_flow(httpx.Request("GET", f"{API}/items")))
    assert sent.headers["Authorization"] == "Bearer AT1"
    assert "AT1" not in repr(sent.headers)  # httpx masks Authorization (SEC-41)


def test_default_api_headers_go_with_api_calls_and_never_to_the_token_endpoint(clock) -> None:
    # SPEC section 10 `headers`: e.g. X-GitHub-Api-Version; the caller's own header wins.
    auth, _ = make_auth(clock, headers={"X-Api-Version": "7", "Accept": "application/vnd.x+json"},
                        resource="https://api.example")
    clock.advance(LONG)  # expired: the first request renews
    request = httpx.Request("GET", f"{API}/items", headers={"Accept": "text/csv"})
    sent = drive(auth, request, server(ok, lambda: token_reply("AT2", "RT2")))
    token_request, api_request = sent
    assert str(token_request.url) == TOKEN_URL
    assert "x-api-version" not in token_request.headers
    assert b"resource=https%3A%2F%2Fapi.example" in token_request.content  # RFC 8707 §2.2
    assert api_request.headers["X-Api-Version"] == "7"
    assert api_request.headers["Accept"] == "text/csv"
    other = next(auth.auth_flow(httpx.Request("GET", "https://elsewhere.example/x")))
    assert "x-api-version" not in other.headers  # only where the token may go

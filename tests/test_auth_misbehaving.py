"""The auth against a scripted misbehaving server (httpx.MockTransport): SEC-22..26, 30, 32,
45..48. Every test counts the token and API calls it caused."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from urllib.parse import parse_qs

import httpx
import pytest

import nb_oauth.errors as errors
from nb_oauth.datasource import Datasource
from nb_oauth.errors import SecurityWarning
from nb_oauth.secret import Secret
from nb_oauth.session import Session
from nb_oauth.tokens import TokenSet

API = "https://api.example"
TOKEN_URL = "https://as.example/token"
LONG = 36_000.0

TokenScript = Callable[[httpx.Request], httpx.Response]


class Server:
    """A scripted authorization server and API; records every request it sees."""

    def __init__(self, token: TokenScript | None = None) -> None:
        self.token = token or (lambda request: token_json(access_token="AT2"))
        self.api: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(200)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == TOKEN_URL:
            return self.token(request)
        return self.api(request)

    @property
    def token_calls(self) -> list[dict[str, list[str]]]:
        return [parse_qs(r.content.decode()) for r in self.requests if str(r.url) == TOKEN_URL]

    @property
    def api_calls(self) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) != TOKEN_URL]


def token_json(**members: object) -> httpx.Response:
    members.setdefault("token_type", "Bearer")
    members.setdefault("expires_in", LONG)
    return httpx.Response(200, json=members)


def make_session(clock, server: Server, **changes: object) -> Session:
    fields: dict[str, object] = {
        "name": "crm",
        "token_url": TOKEN_URL,
        "authorization_url": "https://as.example/authorize",
        "client_id": "client",
        "base_url": API,
    }
    fields.update(changes)
    datasource = Datasource(**fields)  # type: ignore[arg-type]
    session = Session(now=clock)
    session.save(datasource, client_secret="s3cret")
    if datasource.grant == "authorization_code":
        session.store.save_tokens(
            "crm",
            TokenSet(access_token=Secret("AT1"), refresh_token=Secret("RT1"),
                     expires_at=clock() + LONG, obtained_at=clock()),
        )  # fmt: skip
    return session


@pytest.fixture
def server() -> Server:
    return Server()


def client(session: Session, server: Server, **kwargs: object) -> httpx.Client:
    return session.client("crm", transport=httpx.MockTransport(server), **kwargs)


# --- SEC-22: token_type ---------------------------------------------------------------------------


@pytest.mark.parametrize("token_type", ["bearer", "bEaReR"])
def test_token_type_is_case_insensitive_and_sent_as_configured_sec_22(
    clock, server: Server, token_type: str
) -> None:
    server.token = lambda r: token_json(access_token="AT2", token_type=token_type)
    session = make_session(clock, server)
    clock.advance(LONG)
    with client(session, server) as api:
        api.get("/me")
    assert server.api_calls[0].headers["Authorization"] == "Bearer AT2"


def test_missing_token_type_warns_and_assumes_bearer_sec_22(clock, server: Server) -> None:
    server.token = lambda r: httpx.Response(200, json={"access_token": "AT2", "expires_in": 60})
    session = make_session(clock, server)
    clock.advance(LONG)
    with client(session, server) as api, pytest.warns(errors.NbOAuthWarning, match="token_type"):
        api.get("/me")
    assert server.api_calls[0].headers["Authorization"] == "Bearer AT2"


def test_mac_token_type_raises_without_calling_the_api_sec_22(clock, server: Server) -> None:
    server.token = lambda r: token_json(access_token="AT2", token_type="mac")
    session = make_session(clock, server)
    clock.advance(LONG)
    with client(session, server) as api, pytest.raises(errors.TokenEndpointError):
        api.get("/me")
    assert server.api_calls == []


# --- SEC-23: expires_in ---------------------------------------------------------------------------


def test_missing_expires_in_means_no_refresh_before_a_401_sec_23(clock, server: Server) -> None:
    server.token = lambda r: httpx.Response(
        200, json={"access_token": "CC1", "token_type": "Bearer"}
    )
    session = make_session(clock, server, grant="client_credentials", authorization_url=None)
    with client(session, server) as api:
        api.get("/me")
        clock.advance(10 * LONG)
        api.get("/me")
    assert len(server.token_calls) == 1


# --- SEC-24: token endpoint errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "raised", "keeps_refresh_token"),
    [
        ("invalid_grant", errors.ReauthRequired, False),
        ("invalid_client", errors.ClientConfigError, True),
        ("unauthorized_client", errors.ClientConfigError, True),
        ("invalid_scope", errors.ScopeError, True),
        ("temporarily_unavailable", errors.TokenError, True),
    ],
)
def test_token_errors_are_mapped_and_only_invalid_grant_drops_the_refresh_token_sec_24(
    clock, server: Server, error: str, raised: type, keeps_refresh_token: bool
) -> None:
    status = 401 if error == "invalid_client" else 400
    server.token = lambda r: httpx.Response(status, json={"error": error})
    session = make_session(clock, server)
    clock.advance(LONG)
    with client(session, server) as api, pytest.raises(raised) as caught:
        api.get("/me")
    assert isinstance(caught.value, httpx.HTTPError)
    assert len(server.token_calls) == 1
    assert server.api_calls == []
    stored = session.store.load_tokens("crm")
    assert (stored is not None and stored.refresh_token == Secret("RT1")) is keeps_refresh_token


# --- SEC-26: 401 once, 403 never ------------------------------------------------------------------


def test_api_that_always_answers_401_gets_two_calls_and_one_token_call_sec_26(
    clock, server: Server
) -> None:
    server.api = lambda r: httpx.Response(401, headers={"WWW-Authenticate": "Bearer"})
    session = make_session(clock, server)
    with client(session, server) as api, pytest.raises(errors.ReauthRequired):
        api.get("/me")
    assert (len(server.api_calls), len(server.token_calls)) == (2, 1)


def test_403_insufficient_scope_makes_no_token_call_sec_26(clock, server: Server) -> None:
    challenge = 'Bearer error="insufficient_scope", scope="items:write"'
    server.api = lambda r: httpx.Response(403, headers={"WWW-Authenticate": challenge})
    session = make_session(clock, server)
    with client(session, server) as api, pytest.raises(errors.InsufficientScope):
        api.post("/items", json={})
    assert server.token_calls == []


# --- SEC-30: client credentials -------------------------------------------------------------------


def test_client_credentials_ignore_a_refresh_token_and_refetch_sec_30(
    clock, server: Server
) -> None:
    server.token = lambda r: token_json(access_token="CC1", refresh_token="RT-NEVER")
    session = make_session(clock, server, grant="client_credentials", authorization_url=None)
    with client(session, server) as api:
        api.get("/me")
        clock.advance(LONG)
        api.get("/me")
    assert [call["grant_type"] for call in server.token_calls] == [["client_credentials"]] * 2
    assert session.store.load_tokens("crm").refresh_token is None


# --- SEC-32: origins and redirects ----------------------------------------------------------------


def test_requests_to_other_origins_carry_no_token_sec_32(clock, server: Server) -> None:
    session = make_session(clock, server)
    with client(session, server) as api:
        api.get("https://other.example/")
        api.get("http://api.example/")  # same host, other scheme: another origin
    assert all("Authorization" not in r.headers for r in server.api_calls)


@pytest.mark.parametrize("placement", ["header", "query"])
def test_redirect_to_another_origin_drops_the_token_sec_32(
    clock, server: Server, placement: str
) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.example":
            # A careless API that copies the query string (and so the token) into Location.
            location = f"https://other.example/landing?{request.url.query.decode()}"
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(200)

    server.api = api
    session = make_session(clock, server, token_placement=placement)
    with pytest.warns(SecurityWarning) if placement == "query" else nullcontext():
        api_client = client(session, server, follow_redirects=True)
    with api_client:
        response = api_client.get("/me")
    first, second = server.api_calls
    assert "AT1" in str(first.url) or first.headers.get("Authorization") == "Bearer AT1"
    assert second.url.host == "other.example"
    assert "Authorization" not in second.headers
    assert "AT1" not in str(second.url)
    assert "AT1" not in str(response.url)


def test_resent_cross_origin_redirect_carries_no_query_token_sec_32(
    clock, server: Server
) -> None:
    server.api = lambda r: httpx.Response(
        302, headers={"Location": f"https://other.example/x?{r.url.query.decode()}"}
    )
    session = make_session(clock, server, token_placement="query")
    with pytest.warns(SecurityWarning):
        api = client(session, server)
    with api:
        response = api.get("/me")  # follow_redirects=False: the caller decides
        assert response.next_request is not None
        api.send(response.next_request)
    assert "AT1" not in str(server.api_calls[1].url)


# --- SEC-45: bad token responses ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, html="<html><body>Sign in</body></html>"),
        httpx.Response(502, html="<html><body>Bad gateway</body></html>"),
        httpx.Response(200, json=[]),
        httpx.Response(200, json=None),
        httpx.Response(200, json={"access_token": 5, "token_type": "Bearer"}),
        httpx.Response(200, content=b""),
        httpx.Response(200, text="access_token=AT9", headers={"Content-Type": "text/plain"}),
        httpx.Response(200, content=b"{" + b" " * (5 * 1024 * 1024) + b"}"),
    ],
    ids=["html-200", "html-502", "list", "null", "number", "empty", "text", "5MiB"],
)
def test_unusable_token_responses_raise_a_short_typed_error_and_store_nothing_sec_45(
    clock, server: Server, reply: httpx.Response
) -> None:
    server.token = lambda r: httpx.Response(
        reply.status_code, headers=reply.headers, content=reply.content
    )
    session = make_session(clock, server)
    before = session.store.load_tokens("crm")
    clock.advance(LONG)
    with client(session, server) as api, pytest.raises(errors.TokenEndpointError) as caught:
        api.get("/me")
    assert len(str(caught.value)) < 500
    assert "AT9" not in str(caught.value)
    assert session.store.load_tokens("crm") is before
    assert server.api_calls == []


def test_form_encoded_token_response_with_its_content_type_parses_sec_45(
    clock, server: Server
) -> None:
    server.token = lambda r: httpx.Response(
        200,
        content=b"access_token=AT2&token_type=bearer&expires_in=3600",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    session = make_session(clock, server)
    clock.advance(LONG)
    with client(session, server) as api:
        api.get("/me")
    assert server.api_calls[0].headers["Authorization"] == "Bearer AT2"


# --- SEC-46: timeouts -----------------------------------------------------------------------------


class _StallingStream(httpx.SyncByteStream):
    """A body that sends one byte and then stalls until the read timeout fires."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"{"
        raise httpx.ReadTimeout("timed out")


def test_stalling_token_endpoint_raises_token_endpoint_timeout_sec_46(
    clock, server: Server
) -> None:
    server.token = lambda r: httpx.Response(200, stream=_StallingStream())
    session = make_session(clock, server)
    clock.advance(LONG)
    with client(session, server) as api, pytest.raises(errors.TokenEndpointTimeout) as caught:
        api.get("/me")
    assert isinstance(caught.value, httpx.TimeoutException)
    assert session.store.load_tokens("crm").refresh_token == Secret("RT1")


def test_clients_and_token_requests_have_explicit_timeouts_sec_46(clock, server: Server) -> None:
    session = make_session(clock, server)
    clock.advance(LONG)
    with client(session, server) as api:
        api.get("/me")
        timeout = api.timeout
    assert None not in (timeout.connect, timeout.read, timeout.write, timeout.pool)
    token_request = next(r for r in server.requests if str(r.url) == TOKEN_URL)
    assert None not in token_request.extensions["timeout"].values()


# --- SEC-47: API errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 500])
def test_api_errors_are_returned_unchanged_without_token_calls_sec_47(
    clock, server: Server, status: int
) -> None:
    server.api = lambda r: httpx.Response(status, json={"detail": "nope"})
    session = make_session(clock, server)
    with client(session, server) as api:
        response = api.get("/me")
    assert (response.status_code, response.json()) == (status, {"detail": "nope"})
    assert server.token_calls == []


# --- SEC-48: transport failures -------------------------------------------------------------------


def test_connect_error_during_refresh_keeps_the_refresh_token_and_next_call_works_sec_48(
    clock, server: Server
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    server.token = down
    session = make_session(clock, server)
    clock.advance(LONG)
    with client(session, server) as api:
        with pytest.raises(httpx.ConnectError):
            api.get("/me")
        assert session.store.load_tokens("crm").refresh_token == Secret("RT1")
        server.token = lambda r: token_json(access_token="AT2", refresh_token="RT2")
        assert api.get("/me").status_code == 200
    assert session.store.load_tokens("crm").refresh_token == Secret("RT2")
    assert [call["refresh_token"] for call in server.token_calls] == [["RT1"], ["RT1"]]


def test_token_request_body_is_json_for_json_encoding(clock, server: Server) -> None:
    session = make_session(
        clock, server, grant="client_credentials", authorization_url=None,
        client_auth="body", body_encoding="json",
    )  # fmt: skip
    with client(session, server) as api:
        api.get("/me")
    token_request = next(r for r in server.requests if str(r.url) == TOKEN_URL)
    assert token_request.headers["Content-Type"] == "application/json"
    assert json.loads(token_request.content)["client_secret"] == "s3cret"
    assert "Authorization" not in token_request.headers

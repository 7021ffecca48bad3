"""nb_oauth clients against the real demo provider on 127.0.0.1 (SPEC section 7). Time is the
test's FakeClock, shared by the provider and the session: nothing sleeps for a token to expire."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from nb_oauth.datasource import Datasource, loopback_redirect_uri
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import SecurityWarning
from nb_oauth.grants.pkce import new_pkce, new_state
from nb_oauth.grants.token_requests import authorization_code_request, read_token_response
from nb_oauth.secret import Secret
from nb_oauth.session import Session
from nb_oauth.store import MemoryStore

SECRETS = {"demo-basic": "demo-basic-secret", "demo-post": "demo-post-secret",
           "demo-json": "demo-json-secret", "demo-public": None}  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def user_datasource(provider: DemoProvider, **changes: object) -> Datasource:
    fields: dict[str, object] = {
        "name": "demo",
        "token_url": provider.token_url,
        "authorization_url": provider.authorization_url,
        "client_id": "demo-basic",
        "scopes": "profile items:read",
        "base_url": provider.api_url,
    }
    fields.update(changes)
    return Datasource(**fields)  # type: ignore[arg-type]


def connect(session: Session, datasource: Datasource, now: Callable[[], float]) -> None:
    """Stand-in for the consent issue: approve at an auto-approve provider, redeem the code."""
    secret = SECRETS[datasource.client_id]
    session.save(datasource, client_secret=secret)
    pkce, state = new_pkce(), new_state()
    redirect_uri = loopback_redirect_uri(8765)
    params = {"response_type": "code", "client_id": datasource.client_id, "state": state,
              "redirect_uri": redirect_uri, "scope": datasource.scope_string,
              "code_challenge": pkce.code_challenge, "code_challenge_method": "S256"}  # fmt: skip
    answer = httpx.get(str(datasource.authorization_url), params=params)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == [state]
    request = authorization_code_request(
        datasource,
        Secret(secret) if secret else None,
        code=Secret(query["code"][0]),
        redirect_uri=redirect_uri,
        code_verifier=pkce.code_verifier,
    )
    reply = httpx.post(request.url, headers=dict(request.headers), content=request.body)
    tokens = read_token_response(
        request,
        status_code=reply.status_code,
        content_type=reply.headers.get("Content-Type"),
        body=reply.content,
        now=now(),
    )
    session.store.save_tokens(datasource.name, tokens)


@pytest.mark.parametrize(
    ("client_id", "client_auth", "body_encoding"),
    [
        ("demo-basic", "basic", "form"),
        ("demo-post", "body", "form"),
        ("demo-json", "body", "json"),
    ],
)
def test_client_credentials_with_each_client_auth_and_body_encoding(
    demo_provider: DemoProvider, demo_clock, client_id: str, client_auth: str, body_encoding: str
) -> None:
    session = Session(now=demo_clock)
    datasource = Datasource(
        name="cc",
        grant="client_credentials",
        token_url=demo_provider.token_url,
        client_id=client_id,
        client_auth=client_auth,  # type: ignore[arg-type]
        body_encoding=body_encoding,  # type: ignore[arg-type]
        scopes="items:read",
        base_url=demo_provider.api_url,
    )
    session.save(datasource, client_secret=SECRETS[client_id])
    demo_provider.reset_counters()
    with session.client("cc") as api:
        assert api.get("/api/me").json()["client_id"] == client_id
        assert api.get("/api/items").status_code == 200
    assert demo_provider.counters["token:client_credentials"] == 1
    assert isinstance(api.timeout, httpx.Timeout) and api.timeout.read == 30.0  # SEC-46


def test_client_credentials_are_fetched_again_after_expiry_sec_30(make_provider, clock) -> None:
    provider = make_provider(token_lifetime=600)
    session = Session(now=clock)
    session.save(
        Datasource(name="cc", grant="client_credentials", token_url=provider.token_url,
                   client_id="demo-post", client_auth="body", base_url=provider.api_url),
        client_secret="demo-post-secret",
    )  # fmt: skip
    with session.client("cc") as api:
        api.get("/api/me").raise_for_status()
        clock.advance(600)
        api.get("/api/me").raise_for_status()
    assert provider.counters["token:client_credentials"] == 2
    assert provider.counters.get("api_401", 0) == 0
    assert session.store.load_tokens("cc").refresh_token is None


def test_header_placement_with_a_custom_prefix(make_provider, clock) -> None:
    provider = make_provider(auto_approve=True, api_token_prefixes=("Token",))
    session = Session(now=clock)
    connect(session, user_datasource(provider, header_prefix="Token"), clock)
    with session.client("demo") as api:
        assert api.get("/api/me").status_code == 200
    assert provider.counters.get("api_401", 0) == 0


def test_query_placement_reaches_the_api(make_provider, clock) -> None:
    provider = make_provider(auto_approve=True)
    session = Session(now=clock)
    connect(session, user_datasource(provider, token_placement="query"), clock)
    with pytest.warns(SecurityWarning):
        api = session.client("demo")
    with api:
        response = api.get("/api/me")
    assert response.status_code == 200
    assert "access_token" not in str(response.url)  # the response points at the clean request


def test_expired_token_is_refreshed_without_sleeping_and_rotation_is_stored(
    make_provider, clock
) -> None:
    provider = make_provider(auto_approve=True, token_lifetime=600)
    session = Session(now=clock)
    connect(session, user_datasource(provider), clock)
    first = session.store.load_tokens("demo")
    with session.client("demo") as api:
        api.get("/api/me").raise_for_status()
        clock.advance(600)
        api.get("/api/me").raise_for_status()
    stored = session.store.load_tokens("demo")
    assert provider.counters["token:refresh_token"] == 1
    assert provider.counters.get("api_401", 0) == 0
    assert stored.refresh_token != first.refresh_token  # rotated, and stored (SEC-28)
    assert provider.counters.get("refresh_token_reuse", 0) == 0


def test_token_revoked_early_is_refreshed_on_401(make_provider, clock) -> None:
    provider = make_provider(auto_approve=True)
    session = Session(now=clock)
    connect(session, user_datasource(provider), clock)
    access = session.store.load_tokens("demo").access_token.reveal()
    httpx.post(
        provider.revocation_url,
        data={"token": access, "token_type_hint": "access_token"},
        auth=("demo-basic", "demo-basic-secret"),
    ).raise_for_status()
    with session.client("demo") as api:
        assert api.get("/api/me").status_code == 200
    assert provider.counters["api_401"] == 1
    assert provider.counters["token:refresh_token"] == 1


def test_public_client_refreshes_with_client_id_only(make_provider, clock) -> None:
    provider = make_provider(auto_approve=True, token_lifetime=600)
    session = Session(now=clock)
    connect(session, user_datasource(provider, client_id="demo-public", client_auth="none"), clock)
    clock.advance(600)
    with session.client("demo") as api:
        assert api.get("/api/me").status_code == 200
    assert provider.counters["token:refresh_token"] == 1


def test_twenty_threads_on_an_expired_token_cause_one_refresh_sec_27(make_provider, clock) -> None:
    provider = make_provider(auto_approve=True, token_lifetime=600)
    session = Session(now=clock)
    connect(session, user_datasource(provider), clock)
    clock.advance(600)
    statuses: list[int] = []
    with session.client("demo") as api:
        barrier = threading.Barrier(20)

        def call() -> None:
            barrier.wait()
            statuses.append(api.get("/api/me").status_code)

        threads = [threading.Thread(target=call) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 20
    assert provider.counters["token:refresh_token"] == 1
    assert provider.counters.get("refresh_token_reuse", 0) == 0


@pytest.mark.anyio
async def test_twenty_tasks_on_an_expired_token_cause_one_refresh_sec_27(
    make_provider, clock
) -> None:
    provider = make_provider(auto_approve=True, token_lifetime=600)
    session = Session(now=clock)
    await anyio.to_thread.run_sync(connect, session, user_datasource(provider), clock)
    clock.advance(600)
    statuses: list[int] = []
    async with session.async_client("demo") as api:

        async def call() -> None:
            statuses.append((await api.get("/api/me")).status_code)

        async with anyio.create_task_group() as tasks:
            for _ in range(20):
                tasks.start_soon(call)
    assert statuses == [200] * 20
    assert provider.counters["token:refresh_token"] == 1


def test_sync_and_async_clients_of_one_session_share_the_token(make_provider, clock) -> None:
    provider = make_provider(token_lifetime=600)
    session = Session(store=MemoryStore(), now=clock)
    session.save(
        Datasource(name="cc", grant="client_credentials", token_url=provider.token_url,
                   client_id="demo-basic", base_url=provider.api_url),
        client_secret="demo-basic-secret",
    )  # fmt: skip

    async def use_async() -> int:
        async with session.async_client("cc") as api:
            return (await api.get("/api/me")).status_code

    with session.client("cc") as api:
        assert api.get("/api/me").status_code == 200
    assert anyio.run(use_async) == 200
    assert provider.counters["token:client_credentials"] == 1


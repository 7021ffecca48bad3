"""DPoP (RFC 9449, SPEC section 14) against the demo provider, whose authorization server and API
check every proof (demo/dpop.py: RFC 9449 §4.3 in order) and bind tokens to the key's thumbprint.
Token times are the test's clock; proofs carry the wall clock, which is what the servers check."""

from __future__ import annotations

import base64
import hashlib
import json
import textwrap
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey

import nb_oauth
from nb_oauth.consent.flow import connect, disconnect
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import DPoPError
from nb_oauth.grants.dpop import htu
from nb_oauth.grants.token_requests import client_credentials_request
from nb_oauth.session import Session
from nb_oauth.store.keyring_store import KeyringStore
from nb_oauth.token_http import token_http_request
from nb_oauth.tokens import TokenSet
from tests.conftest import BrowserRobot, FakeClock, FileKeyring, QuietView
from tests.fileclock import FileClock
from tests.test_kernels import run

LIFETIME = 600


def service(provider: DemoProvider, session: Session, name: str = "svc", **fields: Any) -> None:
    ds = nb_oauth.Datasource(name=name, grant="client_credentials", token_url=provider.token_url,
                             client_id="demo-basic", base_url=provider.api_url, dpop=True,
                             **fields)
    session.save(ds, client_secret="demo-basic-secret")


def user(provider: DemoProvider, **fields: Any) -> nb_oauth.Datasource:
    settings: dict[str, Any] = {
        "name": "crm", "token_url": provider.token_url,
        "authorization_url": provider.authorization_url,
        "revocation_url": provider.revocation_url, "client_id": "demo-public",
        "client_auth": "none", "scopes": "profile items:read", "base_url": provider.api_url,
        "dpop": True, **fields,
    }
    return nb_oauth.Datasource(**settings)


def thumbprint(tokens: TokenSet | None) -> str:
    assert tokens is not None and tokens.dpop_key is not None
    return ECKey.import_key(tokens.dpop_key.reveal()).thumbprint()


def decode(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    compact = jws.extract_compact(proof.encode())
    header = compact.headers()
    key = ECKey.import_key(header["jwk"])
    jws.deserialize_compact(proof, key, algorithms=["ES256"])  # the signature is the jwk's
    return header, json.loads(compact.payload)


# -- end to end ------------------------------------------------------------------------------------


def test_client_credentials_tokens_are_bound_and_every_api_call_carries_a_proof(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider(token_lifetime=LIFETIME)
    session = Session(now=clock)
    service(provider, session)
    with session.client("svc") as api:
        for _ in range(3):
            assert api.get("/api/me").status_code == 200
        first = session.store.load_tokens("svc")
        assert first is not None and first.token_type == "DPoP"
        clock.advance(LIFETIME)  # renewal: a new token for the same key
        assert api.get("/api/items").status_code == 200
    renewed = session.store.load_tokens("svc")
    assert thumbprint(renewed) == thumbprint(first)
    counters = provider.counters
    assert counters["dpop:token_proofs"] == 2 and counters["api_dpop_proofs"] == 4
    assert counters.get("api_401", 0) == 0


def test_sign_in_refresh_and_disconnect_with_a_dpop_bound_refresh_token(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    provider = make_provider(token_lifetime=LIFETIME)
    session = Session(now=clock)
    session.save(user(provider))
    connect(session, "crm", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    key = thumbprint(session.store.load_tokens("crm"))
    # RFC 9449 §10: the authorization request named the key the code was then redeemed with.
    opened = parse_qs(urlsplit(browser.opened[0]).query)
    assert opened["dpop_jkt"] == [key]
    with session.client("crm") as api:
        assert api.get("/api/me").status_code == 200
        clock.advance(LIFETIME)
        assert api.get("/api/me").status_code == 200  # refreshed with a proof of the same key
    assert provider.counters["token:refresh_token"] == 1
    assert provider.counters.get("dpop_refresh_refused", 0) == 0
    assert thumbprint(session.store.load_tokens("crm")) == key
    disconnect(session, "crm")
    assert session.store.load_tokens("crm") is None  # the key goes with the tokens


def test_a_bound_refresh_token_without_its_key_is_refused_by_the_server(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    # What the key is for: the refresh token alone (leaked, or sent with another key) is useless.
    provider = make_provider(token_lifetime=LIFETIME)
    session = Session(now=clock)
    session.save(user(provider))
    connect(session, "crm", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    tokens = session.store.load_tokens("crm")
    assert tokens is not None and tokens.refresh_token is not None
    data = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token.reveal(),
            "client_id": "demo-public"}
    assert httpx.post(provider.token_url, data=data).json()["error"] == "invalid_grant"
    assert provider.counters["dpop_refresh_refused"] == 1


REFRESH_IN_ANOTHER_KERNEL = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from nb_oauth.session import Session
    from nb_oauth.store.keyring_store import KeyringStore
    from tests.fileclock import FileClock

    session = Session(KeyringStore(), now=FileClock(Path(sys.argv[1])))
    with session.client("crm") as api:
        print(api.get("/api/me").status_code, session.store.load_tokens("crm").token_type)
    """
)


def test_a_dpop_bound_refresh_in_a_second_process_uses_the_stored_key(
    make_provider: Any, tmp_path: Path, file_keyring: FileKeyring
) -> None:
    # SPEC section 14: the key lives with the tokens in the shared store, so another kernel
    # refreshes with it; the first kernel then uses what that one stored.
    clock = FileClock(tmp_path / "clock")
    provider = make_provider(now=clock, token_lifetime=LIFETIME)
    with pytest.warns(nb_oauth.SecurityWarning, match="plain-text"):
        store = KeyringStore(backend=file_keyring.backend(), allow_plaintext=True)
        session = Session(store, now=clock)
        session.save(user(provider))
    browser = BrowserRobot()
    connect(session, "crm", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    key = thumbprint(store.load_tokens("crm"))

    clock.advance(LIFETIME)
    result = run(REFRESH_IN_ANOTHER_KERNEL, clock, file_keyring.env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "DPoP"]
    assert provider.counters["token:refresh_token"] == 1
    assert provider.counters.get("dpop_refresh_refused", 0) == 0
    refreshed = store.load_tokens("crm", fresh=True)
    assert thumbprint(refreshed) == key
    with session.client("crm") as api:
        assert api.get("/api/me").status_code == 200
    assert provider.counters["token:refresh_token"] == 1  # this kernel adopted the new tokens


def test_nonces_at_both_servers_are_used_retried_once_and_remembered(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider(token_lifetime=LIFETIME, dpop_nonce=True, api_dpop_nonce=True)
    session = Session(now=clock)
    service(provider, session)
    with session.client("svc") as api:
        for _ in range(3):
            assert api.get("/api/me").status_code == 200
        clock.advance(LIFETIME)
        assert api.get("/api/me").status_code == 200
    counters = provider.counters
    # One use_dpop_nonce per server, then the remembered nonce is sent every time.
    assert counters["dpop:use_dpop_nonce"] == 1 and counters["token:client_credentials"] == 3
    assert counters["api_dpop:use_dpop_nonce"] == 1 and counters["api_dpop_proofs"] == 4


def test_a_post_to_the_api_is_replayed_with_the_nonce(make_provider: Any, clock: FakeClock) -> None:
    provider = make_provider(api_dpop_nonce=True)
    session = Session(now=clock)
    service(provider, session, scopes="items:write")
    with session.client("svc") as api:
        created = api.post("/api/items", json={"name": "made with DPoP"})
    assert created.status_code == 201 and created.json()["name"] == "made with DPoP"


@pytest.mark.parametrize(("setting", "server"), [
    ("dpop_nonce_loop", "authorization server"), ("api_dpop_nonce_loop", "API"),
])
def test_a_nonce_loop_is_one_error_not_a_loop(
    make_provider: Any, clock: FakeClock, setting: str, server: str
) -> None:
    provider = make_provider(**{setting: True})
    session = Session(now=clock)
    service(provider, session)
    with session.client("svc") as api, pytest.raises(DPoPError) as info:
        api.get("/api/me")
    message = str(info.value)
    assert message.startswith(f"DPoP for svc: the {server} asked for a new DPoP nonce again")
    assert "set dpop=False" in message and "\n" not in message
    assert provider.counters.get("token:client_credentials", 0) == (2 if server != "API" else 1)
    assert provider.counters.get("api_requests", 0) == (0 if server != "API" else 2)


def test_a_server_that_answers_bearer_is_refused_and_nothing_is_stored(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    # No silent downgrade (SEC-22): a DPoP request answered with a Bearer token is an error.
    provider = make_provider(dpop=False)
    session = Session(now=clock)
    service(provider, session)
    with session.client("svc") as api, pytest.raises(DPoPError) as info:
        api.get("/api/me")
    assert "DPoP for svc: the authorization server answered token_type 'Bearer'" in str(info.value)
    assert session.store.load_tokens("svc") is None
    assert provider.counters.get("api_requests", 0) == 0
    session.save(user(provider))
    with pytest.raises(DPoPError, match="DPoP for crm"):
        connect(session, "crm", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    assert session.store.load_tokens("crm") is None


def test_the_dpop_field_is_checked() -> None:
    with pytest.raises(nb_oauth.ConfigError, match="dpop: cannot be used with token_placement"):
        nb_oauth.Datasource(name="x", token_url="https://as.example/t", client_id="c",
                            grant="client_credentials", dpop=True, token_placement="query")
    with pytest.raises(nb_oauth.ConfigError, match="dpop: must be True or False"):
        nb_oauth.Datasource(name="x", token_url="https://as.example/t", client_id="c",
                            grant="client_credentials", dpop="yes")


# -- the proofs ------------------------------------------------------------------------------------


def test_token_request_proofs_have_the_rfc_9449_claims_and_a_public_jwk() -> None:
    ds = nb_oauth.Datasource(name="svc", grant="client_credentials", client_id="c",
                             token_url="https://as.example/token?tenant=1", dpop=True)
    request = client_credentials_request(ds, nb_oauth.Secret("s")).with_dpop_nonce("n-1")
    sent = [token_http_request(request, httpx.Timeout(5)) for _ in range(2)]
    proofs = [decode(r.headers["DPoP"]) for r in sent]
    header, claims = proofs[0]
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert "d" not in header["jwk"] and header["jwk"]["crv"] == "P-256"
    assert claims["htm"] == "POST" and claims["htu"] == "https://as.example/token"
    assert claims["nonce"] == "n-1" and "ath" not in claims and isinstance(claims["iat"], int)
    assert proofs[0][1]["jti"] != proofs[1][1]["jti"]  # a fresh proof every time
    assert proofs[0][0]["jwk"] == proofs[1][0]["jwk"]  # for the same key
    assert "DPoP" not in repr(request) and "PRIVATE" not in repr(request)


def test_api_proofs_carry_ath_and_htu_without_the_query(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider()
    session = Session(now=clock)
    service(provider, session)
    seen: list[httpx.Request] = []
    with session.client("svc", event_hooks={"request": [seen.append]}) as api:
        assert api.get("/api/items", params={"page": 2}).status_code == 200
    tokens = session.store.load_tokens("svc")
    assert tokens is not None
    api_request = seen[-1]
    token = tokens.access_token.reveal()
    assert api_request.headers["Authorization"] == f"DPoP {token}"
    header, claims = decode(api_request.headers["DPoP"])
    assert claims["htm"] == "GET" and claims["htu"] == f"{provider.api_url}/api/items"
    digest = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=")
    assert claims["ath"] == digest.decode()
    assert ECKey.import_key(header["jwk"]).thumbprint() == thumbprint(tokens)


def test_the_key_is_kept_with_the_tokens_and_never_shown(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider()
    session = Session(now=clock)
    service(provider, session)
    with session.client("svc") as api:
        api.get("/api/me")
        auth = session.auth("svc")
        tokens = session.store.load_tokens("svc")
        assert tokens is not None and tokens.dpop_key is not None
        pem = tokens.dpop_key.reveal()
        body = pem.splitlines()[1]
        for text in (repr(tokens), repr(auth), repr(auth.state), repr(session), str(tokens)):
            assert body not in text and "PRIVATE" not in text
        assert "dpop_key=Secret('***')" in repr(tokens)
    from nb_oauth.jupyter.display import DatasourceStatus

    shown = str(DatasourceStatus.of(session, "svc"))
    row = next(line for line in shown.splitlines() if line.strip().startswith("DPoP key"))
    assert row.split()[2:4] == ["thumbprint", f"{thumbprint(tokens)};"]
    assert body not in shown and "PRIVATE" not in shown
    # Stored and read back whole: a restart keeps the key.
    stored = TokenSet.from_secret_json(tokens.to_secret_json())
    assert stored.dpop_key == tokens.dpop_key and stored.token_type == "DPoP"


def test_concurrent_callers_cause_one_dpop_token_request(
    make_provider: Any, clock: FakeClock
) -> None:
    # SPEC section 4, unchanged: N threads on an expired token, one token request.
    provider = make_provider(token_lifetime=LIFETIME, dpop_nonce=True)
    session = Session(now=clock)
    service(provider, session)
    statuses: list[int] = []
    with session.client("svc") as api:
        threads = [threading.Thread(target=lambda: statuses.append(api.get("/api/me").status_code))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 8
    # One grant: the first proof is asked for a nonce, the retry succeeds.
    assert provider.counters["token:client_credentials"] == 2
    assert provider.counters["dpop:token_proofs"] == 1


@pytest.mark.anyio
async def test_the_async_client_sends_proofs_and_handles_nonces(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider(token_lifetime=LIFETIME, dpop_nonce=True, api_dpop_nonce=True)
    session = Session(now=clock)
    service(provider, session)
    async with session.async_client("svc") as api:
        for _ in range(3):
            assert (await api.get("/api/me")).status_code == 200
        clock.advance(LIFETIME)
        assert (await api.get("/api/me")).status_code == 200
    counters = provider.counters
    assert counters["dpop:use_dpop_nonce"] == 1 and counters["api_dpop:use_dpop_nonce"] == 1
    assert counters["api_dpop_proofs"] == 4 and counters["dpop:token_proofs"] == 2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_dpop_is_refused_when_the_metadata_lists_no_es256(make_provider: Any) -> None:
    from nb_oauth.discovery import _check_dpop_alg
    from nb_oauth.grants.metadata import ServerMetadata

    ds = nb_oauth.Datasource(name="svc", grant="client_credentials", client_id="c",
                             token_url="https://as.example/token", dpop=True)
    metadata = ServerMetadata(issuer="https://as.example", token_endpoint="https://as.example/t",
                              dpop_signing_alg_values_supported=("RS256",))
    with pytest.raises(nb_oauth.ConfigError, match=r"signs them ES256 \(svc\); set dpop=False"):
        _check_dpop_alg(ds, metadata)
    # The demo lists ES256: saving from its issuer alone works.
    provider = make_provider()
    session = Session()
    session.save(nb_oauth.Datasource(name="svc", grant="client_credentials", client_id="demo-basic",
                                     issuer=provider.issuer, dpop=True),
                 client_secret="demo-basic-secret")
    assert session.datasource("svc").token_url == provider.token_url


def test_no_token_proof_or_key_reaches_the_logs(
    make_provider: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # SEC-43: httpx and httpcore at DEBUG while DPoP tokens and proofs are in use.
    provider = make_provider(api_dpop_nonce=True)
    session = Session(now=clock)
    service(provider, session)
    seen: list[httpx.Request] = []
    with caplog.at_level("DEBUG"), session.client(
        "svc", event_hooks={"request": [seen.append]}
    ) as api:
        assert api.get("/api/me").status_code == 200
    tokens = session.store.load_tokens("svc")
    assert tokens is not None and tokens.dpop_key is not None
    # The client's loggers (the demo provider's own Authlib server logs what it issues).
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("httpx", "httpcore", "nb_oauth")]
    logged = "".join(r.getMessage() + str(r.args) for r in ours)
    assert ours  # httpx did log the requests
    assert tokens.access_token.reveal() not in logged
    assert tokens.dpop_key.reveal().splitlines()[1] not in logged
    assert seen[-1].headers["DPoP"] not in logged


def test_the_device_grant_gets_dpop_bound_tokens(make_provider: Any, clock: FakeClock) -> None:
    from tests.test_device_grant import FakeSleep, approve_on

    provider = make_provider(device_interval=5, token_lifetime=LIFETIME, dpop_nonce=True)
    session = Session(now=clock)
    session.save(user(provider, grant="device_code", authorization_url=None,
                      device_authorization_url=provider.device_authorization_url))
    connect(session, "crm", view=QuietView(), open_url=lambda url: False,
            sleep=FakeSleep(clock, approve_on(provider, 1)))
    tokens = session.store.load_tokens("crm")
    assert tokens is not None and tokens.token_type == "DPoP"
    with session.client("crm") as api:
        clock.advance(LIFETIME)
        assert api.get("/api/me").status_code == 200  # a bound refresh, then a DPoP call
    assert thumbprint(session.store.load_tokens("crm")) == thumbprint(tokens)
    assert provider.counters.get("dpop_refresh_refused", 0) == 0


def test_the_magic_takes_dpop_and_par(ip: Any, make_provider: Any, clock: FakeClock,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from nb_oauth.jupyter.magics import load, unload

    provider = make_provider()
    session = Session(now=clock)
    load(ip, session=session)
    monkeypatch.setenv("SVC_SECRET", "demo-basic-secret")
    try:
        ip.run_line_magic("datasource", (
            f"add svc --grant client_credentials --token-url {provider.token_url} "
            f"--client-id demo-basic --client-secret-env SVC_SECRET --base-url {provider.api_url} "
            "--dpop"))
        ip.run_line_magic("datasource", (
            f"add crm --token-url {provider.token_url} --authorization-url "
            f"{provider.authorization_url} --client-id demo-public --no-client-secret --par true"))
    finally:
        unload(ip)
    assert session.datasource("svc").dpop is True and session.datasource("crm").par is True
    with session.client("svc") as api:
        assert api.get("/api/me").status_code == 200
    assert provider.counters["api_dpop_proofs"] == 1


def test_turning_dpop_on_or_off_drops_the_tokens(make_provider: Any, clock: FakeClock) -> None:
    provider = make_provider()
    session = Session(now=clock)
    service(provider, session)
    with session.client("svc") as api:
        api.get("/api/me")
    assert session.store.load_tokens("svc") is not None
    session.save(session.datasource("svc").replace(dpop=False))
    assert session.store.load_tokens("svc") is None  # a bound token is not used as a bearer one
    with session.client("svc") as api:
        assert api.get("/api/me").request.headers["Authorization"].startswith("Bearer ")


def test_a_code_bound_to_the_key_is_refused_with_another_key(make_provider: Any) -> None:
    # RFC 9449 §10.1: dpop_jkt binds the code; a proof with another key cannot redeem it.
    from nb_oauth.consent.request import AuthorizationRequest
    from nb_oauth.grants.dpop import new_dpop_key
    from nb_oauth.grants.token_requests import authorization_code_request
    from nb_oauth.token_http import send_token_request

    provider = make_provider()
    ds = user(provider)
    request = AuthorizationRequest(ds, "http://127.0.0.1:5555/callback")
    robot = BrowserRobot(deliver=False)
    robot(request.url)
    code = parse_qs(urlsplit(robot.wait_for_redirect()).query)["code"][0]
    robot.join()
    stolen = authorization_code_request(
        ds, None, code=nb_oauth.Secret(code), redirect_uri=request.redirect_uri,
        code_verifier=request.pkce.code_verifier, dpop_key=new_dpop_key(),
    )
    answer = send_token_request(stolen)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert provider.counters["dpop_code_refused"] == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example/v1/items", "https://api.example/v1/items"),
        ("https://api.example/v1/items?page=2&q=a%3Fb", "https://api.example/v1/items"),
        ("https://api.example/v1/items#top", "https://api.example/v1/items"),
        ("https://api.example/v1/items?page=2#top", "https://api.example/v1/items"),
        ("https://api.example:8443/a%23b/c", "https://api.example:8443/a%23b/c"),
    ],
)
def test_htu_is_the_url_without_query_and_fragment(url: str, expected: str) -> None:
    # RFC 9449 §4.2; the URL is as httpx writes it, so an encoded ? or # stays in the path.
    assert htu(str(httpx.URL(url))) == expected

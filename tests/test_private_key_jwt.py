"""client_auth="private_key_jwt" and "client_secret_jwt" (RFC 7523 §2.2, SPEC section 14) against
the demo provider, whose Authlib verifier checks every assertion (signature, iss = sub, aud = the
token endpoint, exp, a jti used once). Time for the tokens is the test's FakeClock; the assertions
carry wall-clock times, which is what the server checks them against."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from IPython.utils.capture import capture_output
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

import nb_oauth
from nb_oauth.consent.flow import connect, disconnect
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import ConfigError
from nb_oauth.grants.client_auth import select_client_auth
from nb_oauth.grants.signing import CLIENT_ASSERTION_TYPE, load_private_key
from nb_oauth.grants.token_requests import (
    client_credentials_request,
    device_authorization_request,
    refresh_token_request,
    revocation_request,
)
from nb_oauth.jupyter.display import DatasourceStatus
from nb_oauth.jupyter.magics import load, unload
from nb_oauth.secret import Secret
from nb_oauth.session import Session
from nb_oauth.tokens import TokenSet
from tests.conftest import BrowserRobot, FakeClock, QuietView
from tests.test_device_grant import FakeSleep, approve_on


def pem_of(key: Any, *, password: bytes | None = None) -> str:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption).decode()


EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_PEM, RSA_PEM = pem_of(EC_KEY), pem_of(RSA_KEY)
KEYS = {"EC": EC_PEM, "RSA": RSA_PEM}
JWT_SECRET = "demo-jwt-secret-0123456789abcdefghij"


def canaries(pem: str) -> list[str]:
    """Pieces of the key that must never show anywhere: every 24-character slice of its body."""
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return [body[i:i + 24] for i in range(0, len(body) - 24, 24)]


def leaks(text: str, pem: str) -> bool:
    return any(piece in text for piece in canaries(pem))


def key_client(provider: DemoProvider, pem: str, client_id: str = "key-client") -> str:
    public = load_private_key(pem, datasource="test").public_jwk()
    provider.register_public_key(client_id, public)
    return client_id


def user_ds(provider: DemoProvider, **fields: Any) -> nb_oauth.Datasource:
    settings: dict[str, Any] = {
        "name": "crm",
        "token_url": provider.token_url,
        "authorization_url": provider.authorization_url,
        "revocation_url": provider.revocation_url,
        "client_id": "key-client",
        "client_auth": "private_key_jwt",
        "scopes": "profile items:read",
        "base_url": provider.api_url,
        **fields,
    }
    return nb_oauth.Datasource(**settings)


def claims_of(params: dict[str, str], key: Any) -> dict[str, Any]:
    assert params["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    token = jwt.decode(params["client_assertion"], key)
    return dict(token.claims) | {"_header": dict(token.header)}


def form_of(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}


# -- end to end ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kty", ["EC", "RSA"])
def test_sign_in_refresh_and_revoke_authenticate_with_the_private_key(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot, kty: str
) -> None:
    # SPEC section 14; RFC 7523 §2.2/§3 (SEC-31): token, refresh and revocation all carry an
    # assertion the server verified with the registered public key, and never a secret.
    provider = make_provider(token_lifetime=600)
    key_client(provider, KEYS[kty])
    session = Session(now=clock)
    nb_oauth.save(user_ds(provider), private_key=KEYS[kty], session=session)

    connect(session, "crm", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    with session.client("crm") as api:
        assert api.get("/api/me").json()["client_id"] == "key-client"
        clock.advance(600 - 59)
        assert api.get("/api/items").status_code == 200
    assert provider.counters["token:refresh_token"] == 1
    assert disconnect(session, "crm").revoked is True
    # Code, refresh, then two revocations: four assertions, each jti accepted once.
    assert provider.counters["assertion:private_key_jwt"] == 4
    assert provider.counters["revocations"] == 2


def test_client_credentials_and_revocation_with_client_secret_jwt(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider(token_lifetime=600)
    session = Session(now=clock)
    ds = user_ds(provider, grant="client_credentials", authorization_url=None,
                 client_id="demo-jwt", client_auth="client_secret_jwt")
    nb_oauth.save(ds, client_secret=JWT_SECRET, session=session)
    with session.client("crm") as api:
        assert api.get("/api/me").json()["client_id"] == "demo-jwt"
        clock.advance(601)
        assert api.get("/api/me").status_code == 200
    assert provider.counters["token:client_credentials"] == 2
    assert disconnect(session, "crm").revoked is True
    assert provider.counters["assertion:client_secret_jwt"] == 3


def test_a_wrong_client_secret_for_client_secret_jwt_is_refused_by_the_server(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider()
    session = Session(now=clock)
    ds = user_ds(provider, grant="client_credentials", authorization_url=None,
                 client_id="demo-jwt", client_auth="client_secret_jwt")
    nb_oauth.save(ds, client_secret="not-the-secret-0123456789abcdefghij", session=session)
    with session.client("crm") as api, pytest.raises(httpx.HTTPError) as info:
        api.get("/api/me")
    assert "invalid_client" in str(info.value)
    assert provider.counters.get("assertion:client_secret_jwt", 0) == 0


def test_device_authorization_and_polling_authenticate_with_the_private_key(
    make_provider: Any, clock: FakeClock
) -> None:
    provider = make_provider(device_interval=5, token_lifetime=600)
    key_client(provider, EC_PEM)
    session = Session(now=clock)
    ds = user_ds(provider, grant="device_code", authorization_url=None,
                 device_authorization_url=provider.device_authorization_url)
    nb_oauth.save(ds, private_key=EC_PEM, session=session)
    sleep = FakeSleep(clock, approve_on(provider, 2))
    result = connect(session, "crm", view=QuietView(), open_url=lambda url: False, sleep=sleep)
    assert result.has_refresh_token
    # The device authorization request and both polls were authenticated by assertion.
    assert provider.counters["device_authorizations"] == 1
    assert provider.counters["assertion:private_key_jwt"] == 3


def test_a_key_the_server_does_not_know_is_refused(make_provider: Any, clock: FakeClock) -> None:
    provider = make_provider()
    key_client(provider, EC_PEM)  # registered: the EC key; the datasource signs with the RSA one
    session = Session(now=clock)
    ds = user_ds(provider, grant="client_credentials", authorization_url=None)
    nb_oauth.save(ds, private_key=RSA_PEM, session=session)
    with session.client("crm") as api, pytest.raises(httpx.HTTPError) as info:
        api.get("/api/me")
    assert "invalid_client" in str(info.value) and not leaks(str(info.value), RSA_PEM)


# -- the assertion ---------------------------------------------------------------------------------


def test_every_request_that_authenticates_carries_a_fresh_assertion_for_the_token_endpoint(
) -> None:
    # RFC 7523 §3 (SEC-31): iss = sub = client_id, aud = the token endpoint as one string (also
    # at the revocation and device endpoints), a unique jti, exp at most 5 minutes after iat.
    ds = nb_oauth.Datasource(
        name="crm", token_url="https://as.example/token", client_id="crm-client",
        authorization_url="https://as.example/authorize",
        revocation_url="https://as.example/revoke",
        device_authorization_url="https://as.example/device",
        client_auth="private_key_jwt", key_id="key-2026",
    )
    key = ECKey.import_key(EC_PEM)
    tokens = TokenSet(access_token=Secret("at"), refresh_token=Secret("rt"), obtained_at=0.0)
    requests = [
        refresh_token_request(ds, Secret(EC_PEM), tokens),
        client_credentials_request(ds.replace(grant="client_credentials",
                                              authorization_url=None), Secret(EC_PEM)),
        revocation_request(ds, Secret(EC_PEM), Secret("rt"), "refresh_token"),
        device_authorization_request(ds, Secret(EC_PEM)),
    ]
    seen = set()
    for request in requests:
        assert "Authorization" not in request.headers  # one method only
        params = form_of(request.body)
        assert "client_secret" not in params
        claims = claims_of(params, key)
        assert claims["iss"] == claims["sub"] == "crm-client" == params["client_id"]
        assert claims["aud"] == "https://as.example/token"
        assert 0 < claims["exp"] - claims["iat"] <= 300
        assert claims["_header"] == {"alg": "ES256", "typ": "JWT", "kid": "key-2026"}
        seen.add(claims["jti"])
    assert len(seen) == len(requests)


@pytest.mark.parametrize(("kty", "alg", "verifier"), [
    ("RSA", None, "RS256"), ("RSA", "PS256", "PS256"), ("EC", None, "ES256"),
])
def test_signing_alg_defaults_from_the_key_type(kty: str, alg: str | None, verifier: str) -> None:
    ds = nb_oauth.Datasource(name="crm", token_url="https://as.example/token", client_id="c",
                             grant="client_credentials", client_auth="private_key_jwt",
                             signing_alg=alg)
    request = client_credentials_request(ds, Secret(KEYS[kty]))
    key = (RSAKey if kty == "RSA" else ECKey).import_key(KEYS[kty])
    token = jwt.decode(form_of(request.body)["client_assertion"], key, algorithms=[verifier])
    assert token.header["alg"] == verifier


def test_client_secret_jwt_is_hs256_with_the_secret() -> None:
    ds = nb_oauth.Datasource(name="crm", token_url="https://as.example/token", client_id="c",
                             grant="client_credentials", client_auth="client_secret_jwt")
    request = client_credentials_request(ds, Secret(JWT_SECRET))
    params = form_of(request.body)
    claims = claims_of(params, OctKey.import_key(JWT_SECRET.encode()))
    assert claims["_header"]["alg"] == "HS256" and claims["aud"] == "https://as.example/token"
    assert JWT_SECRET not in request.body.decode()


def test_a_private_key_is_never_sent_as_a_shared_secret() -> None:
    with pytest.raises(ConfigError) as info:
        select_client_auth("basic", Secret(EC_PEM))
    assert info.value.field == "client_auth" and not leaks(str(info.value), EC_PEM)


def test_one_signature_more_than_a_secret_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    # SPEC section 14 speed: a private_key_jwt token request costs one signature, no I/O.
    from nb_oauth.grants import signing

    calls: list[str] = []
    real = signing.sign_jwt
    monkeypatch.setattr(signing, "sign_jwt", lambda *a, **k: calls.append("sign") or real(*a, **k))
    ds = nb_oauth.Datasource(name="crm", token_url="https://as.example/token", client_id="c",
                             grant="client_credentials", client_auth="private_key_jwt")
    client_credentials_request(ds, Secret(EC_PEM))
    assert calls == ["sign"]


# -- bad input: one line naming the datasource, nothing saved, no key material -------------------


def _public_pem() -> str:
    return EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


BAD_KEYS = {
    "not PEM": ("hello, I am not a key", "is not a PEM private key"),
    "public key": (_public_pem(), "public key"),
    "encrypted": (pem_of(EC_KEY, password=b"pass-phrase"), "encrypted"),
    "P-384": (pem_of(ec.generate_private_key(ec.SECP384R1())), "neither an RSA nor an EC P-256"),
    "garbled": (EC_PEM.replace("A", "*"), "that can be read"),
}


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_a_bad_key_is_one_line_and_nothing_is_saved(make_provider: Any, case: str) -> None:
    provider = make_provider()
    session = Session()
    text, expected = BAD_KEYS[case]
    with pytest.raises(ConfigError) as info:
        nb_oauth.save(user_ds(provider), private_key=text, session=session)
    message = str(info.value)
    assert info.value.field == "private_key" and expected in message
    assert "(crm)" in message and "\n" not in message
    assert not leaks(message + repr(info.value), text) and not leaks(message, EC_PEM)
    assert session.names() == [] and session.store.load_secret("crm") is None


def test_an_rsa_key_with_es256_is_refused_before_saving(make_provider: Any) -> None:
    provider = make_provider()
    session = Session()
    with pytest.raises(ConfigError) as info:
        nb_oauth.save(user_ds(provider, signing_alg="ES256"), private_key=RSA_PEM,
                      session=session)
    assert info.value.field == "signing_alg"
    assert "ES256 cannot be used with an RSA key (crm)" in str(info.value)
    assert "RS256" in str(info.value) and not leaks(str(info.value), RSA_PEM)
    assert session.names() == []


def test_private_key_jwt_without_a_key_is_refused(make_provider: Any) -> None:
    provider = make_provider()
    session = Session()
    with pytest.raises(ConfigError, match=r"private_key: is required for private_key_jwt \(crm\)"):
        nb_oauth.save(user_ds(provider), session=session)
    with pytest.raises(ConfigError, match="only used with client_auth='private_key_jwt'"):
        nb_oauth.save(user_ds(provider, client_auth="basic"), private_key=EC_PEM,
                      session=session)
    with pytest.raises(ConfigError, match="give private_key=PEM instead"):
        nb_oauth.save(user_ds(provider), client_secret="s", private_key=EC_PEM, session=session)
    assert session.names() == []


def test_a_key_pasted_on_one_line_is_read() -> None:
    # A one-line password field drops the line breaks.
    flat = EC_PEM.replace("\n", " ")
    assert load_private_key(flat, datasource="crm").thumbprint == load_private_key(
        EC_PEM, datasource="crm").thumbprint


# -- where the key goes (and does not) -------------------------------------------------------------


def test_the_key_stays_out_of_the_config_file_reprs_and_show(
    make_provider: Any, nb_oauth_home: Any, memory_keyring: Any
) -> None:
    # SEC-39/41: the key is in the keyring only; show names it by its RFC 7638 thumbprint.
    from nb_oauth.store.keyring_store import KeyringStore

    provider = make_provider()
    session = Session(KeyringStore())
    ds = user_ds(provider, key_id="k1")
    session.save(ds, private_key=RSA_PEM)
    config = "".join(p.read_text() for p in nb_oauth_home.rglob("*") if p.is_file()
                     and p.suffix in (".json", ".toml", ".cfg", ""))
    assert "private_key_jwt" in config and not leaks(config, RSA_PEM)
    status = str(DatasourceStatus.of(session, "crm"))
    thumbprint = RSAKey.import_key(RSA_PEM).thumbprint()
    assert f"thumbprint {thumbprint}" in status and "client secret" not in status
    key = load_private_key(RSA_PEM, datasource="crm")
    for text in (status, repr(ds), repr(session), repr(key), str(key)):
        assert not leaks(text, RSA_PEM)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(key)


def test_private_key_file_option_reads_the_file_once_and_never_echoes_it(
    ip: Any, make_provider: Any, clock: FakeClock, tmp_path: Any
) -> None:
    provider = make_provider()
    key_client(provider, EC_PEM)
    path = tmp_path / "key.pem"
    path.write_text(EC_PEM)
    session = Session(now=clock)
    load(ip, session=session)
    try:
        line = (f"add crm --grant client_credentials --token-url {provider.token_url} "
                f"--client-id key-client --client-auth private_key_jwt "
                f"--base-url {provider.api_url} --private-key-file {path}")
        with capture_output() as added:
            ip.run_line_magic("datasource", line)
        path.unlink()  # read once: the key now lives in the store
        with session.client("crm") as api:
            assert api.get("/api/me").json()["client_id"] == "key-client"
        with capture_output() as shown:
            status = ip.run_line_magic("datasource", "show crm")
        text = added.stdout + shown.stdout + str(status) + repr(status)
        assert ECKey.import_key(EC_PEM).thumbprint() in text
        assert not leaks(text, EC_PEM)
        with pytest.raises(Exception, match="is not a PEM private key") as info:
            bad = tmp_path / "bad.pem"
            bad.write_text("nope")
            ip.run_line_magic("datasource", f"edit crm --private-key-file {bad}")
        assert "(crm)" in str(info.value)
        with pytest.raises(Exception, match="cannot read"):
            ip.run_line_magic("datasource", f"edit crm --private-key-file {tmp_path / 'gone'}")
    finally:
        unload(ip)


def test_the_form_takes_a_pasted_key_and_clears_the_field(make_provider: Any) -> None:
    from nb_oauth.jupyter.widgets import DatasourceForm

    provider = make_provider()
    session = Session()
    form = DatasourceForm(session)
    values = {"name": "crm", "grant": "client_credentials", "token_url": provider.token_url,
              "client_id": "key-client", "client_auth": "private_key_jwt",
              "private_key": "not a key"}
    for name, value in values.items():
        form._input(name).value = value
    form._save.click()
    assert "is not a PEM private key" in form.field_error("private_key")
    assert form._input("private_key").value == "" and session.names() == []
    form._input("private_key").value = EC_PEM
    form._save.click()
    assert form._input("private_key").value == ""
    assert session.store.load_secret("crm") == Secret(EC_PEM.strip())
    state = json.dumps(form._input("private_key").get_state(), default=str)
    assert not leaks(state, EC_PEM)


def test_concurrent_renewals_with_private_key_jwt_make_one_token_request(
    make_provider: Any, clock: FakeClock
) -> None:
    # SPEC section 4 holds unchanged: signing happens inside the single-flight renewal.
    provider = make_provider(token_lifetime=600)
    key_client(provider, EC_PEM)
    session = Session(now=clock)
    nb_oauth.save(user_ds(provider, grant="client_credentials", authorization_url=None),
                  private_key=EC_PEM, session=session)
    results: list[int] = []
    with session.client("crm") as api:
        threads = [threading.Thread(target=lambda: results.append(api.get("/api/me").status_code))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [200] * 8
    assert provider.counters["token:client_credentials"] == 1


def test_signing_alg_is_checked_against_the_server_metadata(make_provider: Any) -> None:
    # SPEC section 14: signing_alg must be one the metadata lists, when it lists any.
    provider = make_provider()
    key_client(provider, RSA_PEM)
    session = Session()
    ds = nb_oauth.Datasource(name="crm", issuer=provider.issuer, client_id="key-client",
                             grant="client_credentials", client_auth="private_key_jwt",
                             signing_alg="RS512")
    with pytest.raises(ConfigError) as info:
        session.save(ds, private_key=RSA_PEM)
    assert info.value.field == "signing_alg" and "RS512 is not accepted" in str(info.value)
    assert "RS256" in str(info.value) and session.names() == []
    session.save(ds.replace(signing_alg="PS256"), private_key=RSA_PEM)
    assert session.datasource("crm").token_url == provider.token_url


def test_metadata_reads_the_par_dpop_and_assertion_members() -> None:
    from nb_oauth.grants.metadata import read_metadata

    document = {
        "issuer": "https://as.example", "token_endpoint": "https://as.example/token",
        "pushed_authorization_request_endpoint": "https://as.example/par",
        "require_pushed_authorization_requests": True,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", 7],
        "dpop_signing_alg_values_supported": "ES256",  # not a list: says nothing
    }
    metadata = read_metadata("https://as.example", json.dumps(document).encode(),
                             url="https://as.example/.well-known", authorization_code=False)
    assert metadata.pushed_authorization_request_endpoint == "https://as.example/par"
    assert metadata.require_pushed_authorization_requests is True
    assert metadata.token_endpoint_auth_signing_alg_values_supported == ("ES256",)
    assert metadata.dpop_signing_alg_values_supported == ()
    document["pushed_authorization_request_endpoint"] = "http://as.example/par"
    with pytest.raises(ConfigError, match="pushed_authorization_request_endpoint"):
        read_metadata("https://as.example", json.dumps(document).encode(),
                      url="https://as.example/.well-known", authorization_code=False)


def test_leaving_private_key_jwt_needs_the_client_secret(make_provider: Any) -> None:
    provider = make_provider()
    session = Session()
    session.save(user_ds(provider), private_key=EC_PEM)
    with pytest.raises(ConfigError) as info:
        session.save(user_ds(provider, client_auth="basic"))
    assert info.value.field == "client_secret" and "is a private key" in str(info.value)
    assert session.datasource("crm").client_auth == "private_key_jwt"  # nothing changed
    session.save(user_ds(provider, client_auth="basic"), client_secret="s3cret")
    assert session.store.load_secret("crm") == Secret("s3cret")


def test_add_with_private_key_jwt_and_no_key_file_is_one_line(
    ip: Any, make_provider: Any, clock: FakeClock
) -> None:
    from IPython.core.error import UsageError

    provider = make_provider()
    session = Session(now=clock)
    load(ip, session=session)
    try:
        line = (f"add crm --grant client_credentials --token-url {provider.token_url} "
                "--client-id key-client --client-auth private_key_jwt")
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("datasource", line)
        assert "private_key: is required for private_key_jwt (crm)" in str(info.value)
        assert "--private-key-file PATH" in str(info.value)
        assert session.names() == []
    finally:
        unload(ip)


def test_a_short_secret_for_client_secret_jwt_warns_once_naming_the_datasource() -> None:
    ds = nb_oauth.Datasource(name="crm", token_url="https://as.example/token", client_id="c",
                             grant="client_credentials", client_auth="client_secret_jwt")
    with pytest.warns(nb_oauth.SecurityWarning) as caught:
        client_credentials_request(ds, Secret("short-secret"))
    assert len(caught) == 1 and "client secret of crm is shorter than 32 bytes" in str(
        caught[0].message)
    assert "short-secret" not in str(caught[0].message)

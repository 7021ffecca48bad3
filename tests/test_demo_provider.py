"""The demo provider's own tests: every capability the foundation issue lists, over real HTTP on
127.0.0.1 (no mocks). The test plays both the OAuth client and the user's browser with httpx.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from nb_oauth.demo import DemoProvider, PortInUse

REDIRECT = "http://127.0.0.1:53682/callback"


@dataclass
class Authorization:
    """What the client holds after the browser came back: the redirect's parameters and PKCE."""

    params: dict[str, str]
    verifier: str
    redirect_uri: str


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(
    provider: DemoProvider,
    client_id: str,
    *,
    decision: str | None = "approve",
    redirect_uri: str = REDIRECT,
    **overrides: str | None,
) -> Authorization:
    """Open the consent page, press a button (or not, under auto-approve), read the redirect."""
    verifier, challenge = pkce()
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": "st-" + secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "profile items:read",
        **overrides,
    }
    params = {k: v for k, v in query.items() if v is not None}
    response = httpx.get(provider.authorization_url, params=params)
    if response.status_code == 200:
        # The consent page: the request was valid and auto-approve is off.
        assert not provider.settings.auto_approve
        response = httpx.post(
            provider.authorization_url, params=params, data={"decision": decision or ""}
        )
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    returned = {k: v[0] for k, v in parse_qs(location.query).items()}
    return Authorization(returned, verifier, redirect_uri)


def exchange(
    provider: DemoProvider, auth: Authorization, client_id: str, **client_auth: Any
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": auth.params["code"],
        "redirect_uri": auth.redirect_uri,
        "code_verifier": auth.verifier,
    }
    return token_request(provider, client_id, data, **client_auth)


def token_request(
    provider: DemoProvider,
    client_id: str,
    data: dict[str, str],
    *,
    method: str | None = None,
    secret: str | None = None,
    as_json: bool = False,
) -> httpx.Response:
    """POST to the token endpoint authenticating as ``client_id`` with its registered method."""
    client = provider.clients[client_id]
    method = method or client.auth_method
    secret = secret if secret is not None else client.client_secret
    kwargs: dict[str, Any] = {}
    body = dict(data)
    if method == "client_secret_basic":
        kwargs["auth"] = (client_id, secret)
    elif method == "client_secret_post":
        body.update(client_id=client_id, client_secret=secret or "")
    else:
        body["client_id"] = client_id
    kwargs["json" if as_json else "data"] = body
    return httpx.post(provider.token_url, **kwargs)


def api(provider: DemoProvider, token: str, path: str = "/api/me", **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(provider.api_url + path, headers=headers, **kwargs)


def user_tokens(provider: DemoProvider, client_id: str = "demo-public") -> dict[str, Any]:
    response = exchange(provider, authorize(provider, client_id), client_id)
    assert response.status_code == 200, response.text
    return dict(response.json())


def refresh(provider: DemoProvider, refresh_token: str, client_id: str = "demo-public") -> Any:
    return token_request(
        provider, client_id, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


# -- metadata (RFC 8414) ---------------------------------------------------------------------------


def test_metadata_describes_every_endpoint_and_capability(demo_provider: DemoProvider) -> None:
    response = httpx.get(demo_provider.metadata_url)
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == demo_provider.issuer
    assert meta["authorization_endpoint"] == demo_provider.authorization_url
    assert meta["token_endpoint"] == demo_provider.token_url
    assert meta["revocation_endpoint"] == demo_provider.revocation_url
    assert meta["device_authorization_endpoint"] == demo_provider.device_authorization_url
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",  # RFC 8628 §4
    }
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    # RFC 9207 §3
    assert meta["authorization_response_iss_parameter_supported"] is True


# -- authorization code with PKCE, consent, iss ----------------------------------------------------


def test_consent_page_offers_approve_and_deny_and_is_not_cached(
    demo_provider: DemoProvider,
) -> None:
    _, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": "demo-public",
        "redirect_uri": REDIRECT,
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = httpx.get(demo_provider.authorization_url, params=params)
    assert page.status_code == 200
    assert 'value="approve"' in page.text.replace("'", '"')
    assert 'value="deny"' in page.text.replace("'", '"')
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_public_client_gets_tokens_with_pkce_and_iss_in_the_redirect(
    demo_provider: DemoProvider,
) -> None:
    auth = authorize(demo_provider, "demo-public", state="state-123")
    assert auth.params["state"] == "state-123"
    assert auth.params["iss"] == demo_provider.issuer  # RFC 9207 §2
    response = exchange(demo_provider, auth, "demo-public")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "profile items:read"
    assert tokens["refresh_token"]
    me = api(demo_provider, tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["client_id"] == "demo-public"


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "public client without PKCE"),
        ({"code_challenge_method": "plain"}, "plain PKCE method"),
        ({"code_challenge_method": None}, "method omitted, which RFC 7636 reads as plain"),
    ],
)
def test_public_client_must_use_pkce_s256(
    demo_provider: DemoProvider, overrides: dict[str, str | None], why: str
) -> None:
    auth = authorize(demo_provider, "demo-public", **overrides)
    assert auth.params["error"] == "invalid_request", why
    assert auth.params["iss"] == demo_provider.issuer  # RFC 9207: errors carry iss too
    assert "code" not in auth.params


def test_wrong_code_verifier_is_rejected(demo_provider: DemoProvider) -> None:
    auth = authorize(demo_provider, "demo-public")
    auth.verifier = pkce()[0]
    response = exchange(demo_provider, auth, "demo-public")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_is_single_use(demo_provider: DemoProvider) -> None:
    auth = authorize(demo_provider, "demo-public")
    assert exchange(demo_provider, auth, "demo-public").status_code == 200
    again = exchange(demo_provider, auth, "demo-public")
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_the_authorization_request(demo_provider: DemoProvider) -> None:
    auth = authorize(demo_provider, "demo-public")
    auth.redirect_uri = "http://127.0.0.1:1/callback"
    response = exchange(demo_provider, auth, "demo-public")
    assert response.json()["error"] == "invalid_grant"


def test_deny_returns_access_denied_with_state_and_iss(demo_provider: DemoProvider) -> None:
    auth = authorize(demo_provider, "demo-public", decision="deny", state="st-deny")
    assert auth.params["error"] == "access_denied"
    assert auth.params["state"] == "st-deny"
    assert auth.params["iss"] == demo_provider.issuer
    assert "code" not in auth.params


def test_auto_approve_redirects_without_a_consent_page(
    make_provider: Any,
) -> None:
    provider = make_provider(auto_approve=True)
    auth = authorize(provider, "demo-public")
    assert "code" in auth.params
    assert exchange(provider, auth, "demo-public").status_code == 200


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:8765/callback", "http://127.0.0.1:40001/callback", "http://[::1]:9/callback"],
)
def test_loopback_redirect_uris_may_use_any_port(
    demo_provider: DemoProvider, redirect_uri: str
) -> None:
    # RFC 8252 §7.3
    auth = authorize(demo_provider, "demo-public", redirect_uri=redirect_uri)
    assert exchange(demo_provider, auth, "demo-public").status_code == 200


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://evil.example/callback",
        "http://127.0.0.1:8765/other",
        "http://localhost:8765/callback",
        "https://127.0.0.1:8765/callback",
        "http://127.0.0.1/callback",
    ],
)
def test_other_redirect_uris_are_refused_without_redirecting(
    demo_provider: DemoProvider, redirect_uri: str
) -> None:
    _, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": "demo-public",
        "redirect_uri": redirect_uri,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = httpx.get(demo_provider.authorization_url, params=params)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "<script" not in page.text


def test_implicit_grant_is_not_offered(demo_provider: DemoProvider) -> None:
    auth = authorize(demo_provider, "demo-public", response_type="token")
    assert auth.params["error"] == "unsupported_response_type"
    assert "access_token" not in auth.params


# -- confidential clients: one auth method each ----------------------------------------------------


@pytest.mark.parametrize("client_id", ["demo-basic", "demo-post"])
def test_confidential_client_exchanges_a_code_with_its_auth_method(
    demo_provider: DemoProvider, client_id: str
) -> None:
    auth = authorize(demo_provider, client_id)
    response = exchange(demo_provider, auth, client_id)
    assert response.status_code == 200, response.text
    assert api(demo_provider, response.json()["access_token"]).json()["client_id"] == client_id


@pytest.mark.parametrize(
    ("client_id", "other_method"),
    [
        ("demo-basic", "client_secret_post"),
        ("demo-post", "client_secret_basic"),
        ("demo-basic", "none"),
    ],
)
def test_a_client_may_not_switch_auth_methods(
    demo_provider: DemoProvider, client_id: str, other_method: str
) -> None:
    data = {"grant_type": "client_credentials"}
    response = token_request(demo_provider, client_id, data, method=other_method)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("client_id", ["demo-basic", "demo-post"])
def test_wrong_client_secret_is_invalid_client(demo_provider: DemoProvider, client_id: str) -> None:
    data = {"grant_type": "client_credentials"}
    response = token_request(demo_provider, client_id, data, secret="not-the-secret")
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_basic_auth_failure_answers_401_with_a_challenge(demo_provider: DemoProvider) -> None:
    # RFC 6749 §5.2: invalid_client over the Authorization header is a 401 with WWW-Authenticate.
    data = {"grant_type": "client_credentials"}
    response = token_request(demo_provider, "demo-basic", data, secret="nope")
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


# -- client credentials, JSON bodies ---------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["demo-basic", "demo-post", "demo-json"])
def test_client_credentials_issue_an_access_token_without_refresh_token(
    demo_provider: DemoProvider, client_id: str
) -> None:
    response = token_request(demo_provider, client_id, {"grant_type": "client_credentials"})
    assert response.status_code == 200
    tokens = response.json()
    # RFC 6749 §4.4.3: "A refresh token SHOULD NOT be included".
    assert "refresh_token" not in tokens
    assert api(demo_provider, tokens["access_token"]).status_code == 200


def test_public_client_cannot_use_client_credentials(demo_provider: DemoProvider) -> None:
    response = token_request(demo_provider, "demo-public", {"grant_type": "client_credentials"})
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")


def test_json_body_client_gets_tokens_from_a_json_token_request(
    demo_provider: DemoProvider,
) -> None:
    data = {"grant_type": "client_credentials", "scope": "items:read"}
    response = token_request(demo_provider, "demo-json", data, as_json=True)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "items:read"


def test_json_body_client_can_exchange_a_code_and_refresh_in_json(
    demo_provider: DemoProvider,
) -> None:
    auth = authorize(demo_provider, "demo-json")
    data = {
        "grant_type": "authorization_code",
        "code": auth.params["code"],
        "redirect_uri": auth.redirect_uri,
        "code_verifier": auth.verifier,
    }
    tokens = token_request(demo_provider, "demo-json", data, as_json=True).json()
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    refreshed = token_request(demo_provider, "demo-json", data, as_json=True)
    assert refreshed.status_code == 200, refreshed.text


def test_form_clients_may_not_send_json_token_requests(demo_provider: DemoProvider) -> None:
    data = {"grant_type": "client_credentials"}
    response = token_request(demo_provider, "demo-post", data, as_json=True)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# -- refresh tokens: rotation, reuse detection, switches -------------------------------------------


def test_refresh_with_rotation_issues_a_new_refresh_token(demo_provider: DemoProvider) -> None:
    first = user_tokens(demo_provider)
    second = refresh(demo_provider, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = refresh(demo_provider, second["refresh_token"])
    assert third.status_code == 200


def test_reused_refresh_token_revokes_the_whole_family(demo_provider: DemoProvider) -> None:
    # RFC 9700 §4.14.2; SEC-27 relies on this to prove nb_oauth never replays a rotated token.
    before = demo_provider.counters.get("refresh_token_reuse", 0)
    first = user_tokens(demo_provider)
    second = refresh(demo_provider, first["refresh_token"]).json()
    replay = refresh(demo_provider, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert demo_provider.counters["refresh_token_reuse"] == before + 1
    # The legitimate holder's newer tokens die with the family.
    assert refresh(demo_provider, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert api(demo_provider, second["access_token"]).status_code == 401


def test_without_rotation_the_refresh_token_stays_valid(make_provider: Any) -> None:
    provider = make_provider(rotate_refresh_tokens=False)
    first = user_tokens(provider)
    for _ in range(3):
        response = refresh(provider, first["refresh_token"])
        assert response.status_code == 200
        # RFC 6749 §6: no new refresh token, so the client keeps the one it has.
        assert "refresh_token" not in response.json()
    assert provider.counters.get("refresh_token_reuse", 0) == 0


def test_refresh_tokens_can_be_switched_off(make_provider: Any) -> None:
    provider = make_provider(issue_refresh_token=False)
    tokens = user_tokens(provider)
    assert "refresh_token" not in tokens
    assert api(provider, tokens["access_token"]).status_code == 200


def test_refresh_may_narrow_but_not_widen_the_scope(demo_provider: DemoProvider) -> None:
    tokens = user_tokens(demo_provider)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    narrowed = token_request(demo_provider, "demo-public", {**data, "scope": "profile"})
    assert narrowed.json()["scope"] == "profile"
    data["refresh_token"] = narrowed.json()["refresh_token"]
    widened = token_request(demo_provider, "demo-public", {**data, "scope": "items:write"})
    assert widened.json()["error"] == "invalid_scope"


# -- token lifetime and the injected clock ---------------------------------------------------------


def test_token_lifetime_is_configurable_and_expiry_follows_the_clock(
    make_provider: Any, clock: Any
) -> None:
    provider = make_provider(token_lifetime=120)
    tokens = token_request(provider, "demo-basic", {"grant_type": "client_credentials"}).json()
    assert tokens["expires_in"] == 120
    clock.advance(119)
    assert api(provider, tokens["access_token"]).status_code == 200
    clock.advance(1)
    expired = api(provider, tokens["access_token"])
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert expired.headers["www-authenticate"].startswith("Bearer ")


def test_authorization_codes_expire_after_ten_minutes(make_provider: Any, clock: Any) -> None:
    provider = make_provider(auto_approve=True)
    auth = authorize(provider, "demo-public")
    clock.advance(601)
    assert exchange(provider, auth, "demo-public").json()["error"] == "invalid_grant"


# -- revocation (RFC 7009) -------------------------------------------------------------------------


def test_revoking_an_access_token_makes_the_api_refuse_it(demo_provider: DemoProvider) -> None:
    tokens = user_tokens(demo_provider, "demo-basic")
    response = httpx.post(
        demo_provider.revocation_url,
        auth=("demo-basic", "demo-basic-secret"),
        data={"token": tokens["access_token"], "token_type_hint": "access_token"},
    )
    assert response.status_code == 200
    assert api(demo_provider, tokens["access_token"]).status_code == 401
    # The refresh token is untouched by revoking the access token.
    assert refresh(demo_provider, tokens["refresh_token"], "demo-basic").status_code == 200


def test_revoking_a_refresh_token_ends_the_grant(demo_provider: DemoProvider) -> None:
    tokens = user_tokens(demo_provider)
    response = httpx.post(
        demo_provider.revocation_url,
        data={"token": tokens["refresh_token"], "client_id": "demo-public"},
    )
    assert response.status_code == 200
    assert refresh(demo_provider, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    # RFC 7009 §2.1: its access tokens go too.
    assert api(demo_provider, tokens["access_token"]).status_code == 401


def test_revoking_an_unknown_token_still_answers_200(demo_provider: DemoProvider) -> None:
    # RFC 7009 §2.2: invalid tokens do not cause an error response.
    response = httpx.post(
        demo_provider.revocation_url,
        auth=("demo-basic", "demo-basic-secret"),
        data={"token": "no-such-token"},
    )
    assert response.status_code == 200


def test_revocation_requires_client_authentication(demo_provider: DemoProvider) -> None:
    tokens = user_tokens(demo_provider, "demo-basic")
    response = httpx.post(
        demo_provider.revocation_url,
        auth=("demo-basic", "wrong"),
        data={"token": tokens["access_token"]},
    )
    assert response.status_code == 401
    assert api(demo_provider, tokens["access_token"]).status_code == 200


# -- the protected API -----------------------------------------------------------------------------


def cc_token(provider: DemoProvider, scope: str = "profile items:read items:write") -> str:
    data = {"grant_type": "client_credentials", "scope": scope}
    return str(token_request(provider, "demo-basic", data).json()["access_token"])


def test_api_accepts_the_token_in_the_access_token_query_parameter(
    demo_provider: DemoProvider,
) -> None:
    token = cc_token(demo_provider)
    response = httpx.get(demo_provider.api_url + "/api/me", params={"access_token": token})
    assert response.status_code == 200


def test_api_accepts_a_configured_header_prefix(make_provider: Any) -> None:
    provider = make_provider(api_token_prefixes=("Token",))
    token = cc_token(provider)
    ok = httpx.get(provider.api_url + "/api/me", headers={"Authorization": f"Token {token}"})
    assert ok.status_code == 200
    bearer = httpx.get(provider.api_url + "/api/me", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401


def test_api_scheme_is_case_insensitive(demo_provider: DemoProvider) -> None:
    token = cc_token(demo_provider)
    response = httpx.get(
        demo_provider.api_url + "/api/me", headers={"Authorization": f"bEaReR {token}"}
    )
    assert response.status_code == 200


def test_api_without_a_token_challenges_without_an_error_code(
    demo_provider: DemoProvider,
) -> None:
    response = httpx.get(demo_provider.api_url + "/api/me")
    assert response.status_code == 401
    # RFC 6750 §3.1: no error code when the request carried no credentials at all.
    assert "error=" not in response.headers["www-authenticate"]


def test_api_rejects_an_unknown_token_as_invalid_token(demo_provider: DemoProvider) -> None:
    response = api(demo_provider, "demo-at-made-up")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_api_refuses_a_token_sent_two_ways(demo_provider: DemoProvider) -> None:
    token = cc_token(demo_provider)
    response = api(demo_provider, token, params={"access_token": token})
    assert response.status_code == 400


def test_api_enforces_scopes_with_insufficient_scope(demo_provider: DemoProvider) -> None:
    token = cc_token(demo_provider, scope="profile")
    response = api(demo_provider, token, "/api/items")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_api_items_are_paginated(demo_provider: DemoProvider) -> None:
    token = cc_token(demo_provider)
    seen: list[int] = []
    path: str | None = "/api/items?per_page=20"
    while path:
        page = api(demo_provider, token, path).json()
        seen += [item["id"] for item in page["items"]]
        path = page["next"]
    assert len(seen) == len(set(seen)) >= 45
    assert seen[:3] == [1, 2, 3]


def test_api_creates_items_with_the_write_scope(demo_provider: DemoProvider) -> None:
    token = cc_token(demo_provider)
    response = httpx.post(
        demo_provider.api_url + "/api/items",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "from a test"},
    )
    assert response.status_code == 201
    assert response.json()["name"] == "from a test"


# -- counters --------------------------------------------------------------------------------------


def test_counters_count_token_requests_per_grant_api_requests_and_401s(
    make_provider: Any,
) -> None:
    provider = make_provider(auto_approve=True)
    tokens = user_tokens(provider)
    refresh(provider, tokens["refresh_token"])
    token_request(provider, "demo-basic", {"grant_type": "client_credentials"})
    token_request(provider, "demo-basic", {"grant_type": "client_credentials"})
    api(provider, tokens["access_token"])
    api(provider, "bogus")
    assert provider.counters == {
        "authorizations": 1,
        "token:authorization_code": 1,
        "token:refresh_token": 1,
        "token:client_credentials": 2,
        "api_requests": 2,
        "api_401": 1,
    }
    provider.reset_counters()
    assert provider.counters == {}


# -- lifecycle -------------------------------------------------------------------------------------


def test_stopping_the_provider_closes_both_ports() -> None:
    provider = DemoProvider().start()
    urls = (provider.metadata_url, provider.api_url + "/api/me")
    provider.stop()
    for url in urls:
        with pytest.raises(httpx.ConnectError):
            httpx.get(url)
    provider.stop()  # a second stop is harmless


def test_a_busy_fixed_port_raises_port_in_use(demo_provider: DemoProvider) -> None:
    busy = int(demo_provider.issuer.rsplit(":", 1)[1])
    with pytest.raises(PortInUse, match=f"Port {busy} on 127.0.0.1 is in use"):
        DemoProvider(port=busy).start()


def test_provider_listens_on_loopback_only(demo_provider: DemoProvider) -> None:
    for url in (demo_provider.issuer, demo_provider.api_url):
        assert urlsplit(url).hostname == "127.0.0.1"

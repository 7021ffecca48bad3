"""Every preset, the whole story (consent, a call, expiry, a refresh, a call) against a local
emulation of that provider's documented behaviour (nb_oauth/demo/emulation.py; the behaviour and its
sources are in docs/provider-notes/). The preset is pointed at the emulation only through the
explicit endpoint fields, as a user pointing it at a test server would; each quirk is asserted on
the emulation's request log."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from nb_oauth.consent.flow import connect
from nb_oauth.datasource import Datasource
from nb_oauth.demo.emulation import Emulation, Profile
from nb_oauth.presets import PRESETS
from nb_oauth.session import Session
from tests.conftest import BrowserRobot, FakeClock, QuietView

Check = Callable[[Emulation], None]


@dataclass(frozen=True)
class Case:
    provider: str
    profile: Profile
    check: Check
    options: dict[str, str] = field(default_factory=dict)
    scopes: str | None = None


def _authorize(emulation: Emulation) -> dict[str, str]:
    (request,) = emulation.requests("/authorize")
    return request.query


def _tokens(emulation: Emulation, grant: str) -> list[Any]:
    return [r for r in emulation.requests("/token") if r.form.get("grant_type") == grant]


def _api_headers(emulation: Emulation) -> list[dict[str, str]]:
    return [r.headers for r in emulation.log if r.path.startswith("/v1/")]


def check_github(emulation: Emulation) -> None:
    # Form-encoded answers unless the token request asks for JSON; API version header.
    assert all(r.headers["accept"] == "application/json" for r in emulation.requests("/token"))
    assert all(h["x-github-api-version"] == "2022-11-28" for h in _api_headers(emulation))
    assert all("client_secret" in r.form for r in emulation.requests("/token"))


def check_google(emulation: Emulation) -> None:
    query = _authorize(emulation)
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    assert query["code_challenge_method"] == "S256"


def check_microsoft(emulation: Emulation) -> None:
    # offline_access for a refresh token; the scope is sent again on refresh.
    assert _authorize(emulation)["scope"] == "offline_access User.Read"
    (refresh,) = _tokens(emulation, "refresh_token")
    assert refresh.form["scope"] == "offline_access User.Read"


def check_zoho(emulation: Emulation) -> None:
    query = _authorize(emulation)
    assert query["scope"] == "ZohoCRM.modules.ALL,ZohoCRM.users.READ"  # comma-separated
    assert query["access_type"] == "offline"
    assert all(h["authorization"].startswith("Zoho-oauthtoken ") for h in _api_headers(emulation))


def check_dropbox(emulation: Emulation) -> None:
    assert _authorize(emulation)["token_access_type"] == "offline"


def check_atlassian(emulation: Emulation) -> None:
    query = _authorize(emulation)
    assert (query["audience"], query["prompt"]) == ("api.atlassian.com", "consent")
    assert "offline_access" in query["scope"].split()


def check_notion(emulation: Emulation) -> None:
    assert all(r.headers["content-type"] == "application/json"
               for r in emulation.requests("/token"))
    assert all(h["notion-version"] for h in _api_headers(emulation))


def check_xero(emulation: Emulation) -> None:
    assert "offline_access" in _authorize(emulation)["scope"].split()


def check_auth0(emulation: Emulation) -> None:
    assert _authorize(emulation)["audience"] == "https://api.example.org/"


def check_strava(emulation: Emulation) -> None:
    assert _authorize(emulation)["scope"] == "read,activity:read_all"


def check_salesforce(emulation: Emulation) -> None:
    # No expiry given: the expired token's 401 brought the refresh, and the call was replayed.
    assert len(_api_headers(emulation)) == 3
    assert _authorize(emulation)["scope"] == "api refresh_token"


def check_slack(emulation: Emulation) -> None:
    query = _authorize(emulation)
    assert query["user_scope"] == "search:read,users:read" and "scope" not in query


def check_public_client(emulation: Emulation) -> None:
    # Okta native apps: no secret, PKCE only (the emulation refuses a secret).
    assert all("client_secret" not in r.form for r in emulation.requests("/token"))


def no_more(emulation: Emulation) -> None:
    """The preset has no quirk beyond what every datasource does."""


CASES = [
    Case("github", Profile(client_auth="body", form_unless_json_accepted=True,
                           lifetime=8 * 3600), check_github),
    Case("gitlab", Profile(lifetime=7200), no_more, {"host": "gitlab.example.org"}),
    Case("google", Profile(client_auth="body"), check_google),
    Case("microsoft", Profile(client_auth="body"), check_microsoft,
         {"tenant": "contoso.onmicrosoft.com"}),
    Case("zoho", Profile(scheme="Zoho-oauthtoken", client_auth="body",
                         api_base_member="api_domain"), check_zoho,
         {"region": "eu"}, "ZohoCRM.modules.ALL,ZohoCRM.users.READ"),
    Case("keycloak", Profile(lifetime=300), no_more, {"host": "sso.example.org", "realm": "lab"}),
    Case("dropbox", Profile(lifetime=4 * 3600), check_dropbox),
    Case("spotify", Profile(), no_more),
    Case("atlassian", Profile(client_auth="body"), check_atlassian),
    Case("notion", Profile(json_body=True), check_notion),
    Case("hubspot", Profile(client_auth="body", lifetime=1800), no_more),
    Case("xero", Profile(lifetime=1800), check_xero),
    Case("okta", Profile(client_auth="none"), check_public_client, {"domain": "dev-1.okta.com"}),
    Case("auth0", Profile(client_auth="none"), check_auth0,
         {"domain": "t.eu.auth0.com", "audience": "https://api.example.org/"}),
    Case("strava", Profile(client_auth="body", expires_at_only=True, lifetime=6 * 3600),
         check_strava, {}, "read,activity:read_all"),
    Case("salesforce", Profile(client_auth="body", no_expiry=True, rotate=False,
                               api_base_member="instance_url"), check_salesforce),
    Case("slack", Profile(nest="authed_user", lifetime=12 * 3600), check_slack, {},
         "search:read,users:read"),
]


def test_every_preset_has_an_emulated_story() -> None:
    assert sorted(case.provider for case in CASES) == sorted(PRESETS)


@pytest.fixture
def emulations() -> Iterator[list[Emulation]]:
    started: list[Emulation] = []
    yield started
    for emulation in started:
        emulation.close()


@pytest.mark.parametrize("case", CASES, ids=[case.provider for case in CASES])
def test_the_whole_story_against_the_emulated_provider(
    case: Case, clock: FakeClock, browser: BrowserRobot, emulations: list[Emulation]
) -> None:
    emulation = Emulation(case.profile, clock)
    emulations.append(emulation)
    base = emulation.base
    fields: dict[str, Any] = {
        "name": case.provider, "provider": case.provider, "provider_options": case.options,
        "client_id": emulation.client_id,
        # The only overrides: the endpoints, pointed at the emulation.
        "authorization_url": f"{base}/authorize", "token_url": f"{base}/token",
        "issuer": base, "revocation_url": f"{base}/revoke",
    }
    if not case.profile.api_base_member:
        fields["base_url"] = base  # else the provider names it at sign-in
    if case.scopes:
        fields["scopes"] = case.scopes
    ds = Datasource(**fields)
    public = ds.client_auth == "none"
    session = Session(now=clock)
    session.save(ds, client_secret=None if public else emulation.client_secret)

    connect(session, case.provider, view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    with session.client(case.provider) as api:
        assert api.get("/v1/me").json() == {"user": "emulated"}
        clock.advance(case.profile.lifetime)  # expired: the next call renews first
        assert api.get("/v1/me").status_code == 200

    assert len(_tokens(emulation, "authorization_code")) == 1
    assert len(_tokens(emulation, "refresh_token")) == 1
    if case.profile.api_base_member:
        # The API's root named at sign-in (instance_url, api_domain) became the base URL.
        assert session.datasource(case.provider).base_url == base
    else:
        assert len(_api_headers(emulation)) == 2  # renewed before the call, never after a 401
    case.check(emulation)
    # What every datasource does, whatever the preset: S256 PKCE, state, loopback redirect.
    query = _authorize(emulation)
    assert query["code_challenge_method"] == "S256" and query["state"]
    assert query["redirect_uri"].startswith("http://127.0.0.1:")
    assert json.dumps(session.datasource(case.provider).to_config())  # storable as it is
